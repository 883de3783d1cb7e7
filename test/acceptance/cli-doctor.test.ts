import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { openDataDir } from '../../src/core';
import { runCli, startCli } from '../support/cli';
import { useTempDir } from '../support/temp';

const listen = async (): Promise<Server> => {
  const server = createServer((_request, response) => response.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
};
const portOf = (server: Server) => (server.address() as AddressInfo).port;
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** `switchyard doctor`: what would stop start, found before starting (issue 15, defect 8). */
describe('switchyard doctor (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  // Not spawnSync: the bridge this test serves must answer while doctor runs.
  const doctor = async (...args: string[]) => {
    const result = await startCli(['--data-dir', dataDir(), 'doctor', '--runtime', 'process', ...args, '--json']).done;
    return { status: result.status, report: JSON.parse(result.stdout) as { ok: boolean; checks: Array<{ check: string; verdict: string; detail: string }> } };
  };
  const verdicts = (report: { checks: Array<{ check: string; verdict: string }> }) => Object.fromEntries(report.checks.map((c) => [c.check, c.verdict]));

  it('given a ready machine and a bridge that answers, every check passes and it exits 0', async () => {
    openDataDir(dataDir()).close();
    const bridge = await listen();
    const free = await listen();
    const port = portOf(free);
    await close(free);
    try {
      const { status, report } = await doctor('--webhook-port', String(port), '--webhook-deliver-url', `http://127.0.0.1:${portOf(bridge)}/deliver`);
      expect(status).toBe(0);
      expect(verdicts(report)).toEqual({ 'data directory': 'ok', database: 'ok', 'host lock': 'ok', runtime: 'ok', 'webhook port': 'ok', 'webhook deliver URL': 'ok', 'agent provider': 'ok' });
    } finally {
      await close(bridge);
    }
  });

  it('given the port taken, a deliver URL nobody answers and a stale lock, it names each and exits 1', async () => {
    mkdirSync(dataDir(), { recursive: true });
    writeFileSync(join(dataDir(), 'host.lock'), '999999\n');
    const taken = await listen();
    const gone = await listen();
    const goneUrl = `http://127.0.0.1:${portOf(gone)}/deliver`;
    await close(gone);
    try {
      const { status, report } = await doctor('--webhook-port', String(portOf(taken)), '--webhook-deliver-url', goneUrl);
      expect(status).toBe(1);
      expect(verdicts(report)).toMatchObject({ 'host lock': 'warn', 'webhook port': 'fail', 'webhook deliver URL': 'fail' });
      const detail = (name: string) => report.checks.find((c) => c.check === name)!.detail;
      expect(detail('host lock')).toContain('stale');
      expect(detail('webhook port')).toContain(`127.0.0.1:${portOf(taken)} is not free`);
      expect(detail('webhook deliver URL')).toMatch(new RegExp(`${goneUrl} does not answer: .*ECONNREFUSED`));
    } finally {
      await close(taken);
    }
  });

  it('given a file that is not a database, and the anthropic provider without its key, both fail', () => {
    mkdirSync(dataDir(), { recursive: true });
    writeFileSync(join(dataDir(), 'switchyard.db'), 'not sqlite');
    const result = runCli(['--data-dir', dataDir(), 'doctor', '--runtime', 'process', '--json'], { SWITCHYARD_AGENT_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: '' });
    expect(result.status).toBe(1);
    expect(verdicts(JSON.parse(result.stdout))).toMatchObject({ database: 'fail', 'agent provider': 'fail' });
  });
});
