import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { runCli, startCli } from '../support/cli';
import { openConsoleScene } from '../support/console-scene';
import { useTempDir } from '../support/temp';

const dir = useTempDir('switchyard-cli-console-');
const env = { SWITCHYARD_RUNTIME: 'external', SWITCHYARD_LOG_LEVEL: 'warn' };

/** Starts the CLI, waits for its start lines, and gives the console's address. */
async function serving(args: string[], lines: number, extra: NodeJS.ProcessEnv = {}) {
  const cli = startCli(args, { ...env, ...extra });
  await Promise.race([cli.lines(lines), cli.done.then((r) => Promise.reject(new Error(`exited ${r.status}: ${r.stdout}${r.stderr}`)))]);
  const url = /web console on (\S+)/.exec(cli.output())?.[1];
  if (!url) throw new Error(`no console line in:\n${cli.output()}`);
  return { ...cli, url };
}

async function stopped(cli: { child: { kill(signal: NodeJS.Signals): boolean }; done: Promise<{ status: number | null }> }) {
  cli.child.kill('SIGTERM');
  expect((await cli.done).status).toBe(0);
}

describe('switchyard start --console-port', () => {
  it('serves the console and /metrics from the running host, loopback only without a token, and says so', async () => {
    const host = await serving(['--data-dir', join(dir(), 'data'), 'start', '--console-port', '0'], 2);
    try {
      expect(host.output()).toMatch(/web console on http:\/\/127\.0\.0\.1:\d+\/ \(no SWITCHYARD_CONSOLE_TOKEN set: loopback only/);
      expect(await (await fetch(new URL('/metrics', host.url))).text()).toMatch(/^switchyard_log_position \d+$/m);
      expect(await (await fetch(new URL('/api/overview', host.url))).json()).toMatchObject({ writable: true, actor: expect.stringMatching(/^operator:/) });
    } finally {
      await stopped(host);
    }
  });

  it('asks for SWITCHYARD_CONSOLE_TOKEN when it is set', async () => {
    const token = 'console-token-for-the-test';
    const host = await serving(['--data-dir', join(dir(), 'data'), 'start', '--console-port', '0'], 2, { SWITCHYARD_CONSOLE_TOKEN: token });
    try {
      expect(host.output()).toContain('SWITCHYARD_CONSOLE_TOKEN required');
      expect((await fetch(new URL('/metrics', host.url))).status).toBe(401);
      expect((await fetch(new URL('/metrics', host.url), { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      await stopped(host);
    }
  });

  it('says in one line when the console port is in use, and exits non-zero', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as { port: number }).port;
      const cli = startCli(['--data-dir', join(dir(), 'data'), 'start', '--console-port', String(port)], env);
      const result = await cli.done;
      expect(result.status).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual([`switchyard: could not start the web console: port ${port} on 127.0.0.1 is already in use (pass another --console-port)`]);
    } finally {
      taken.close();
    }
  });
});

describe('switchyard console', () => {
  it('serves a data directory read-only with the host down: pages read, decisions refused with where to decide', async () => {
    const data = join(dir(), 'data');
    openConsoleScene(data).close();
    const viewer = await serving(['--data-dir', data, 'console', '--port', '0'], 1);
    try {
      expect(viewer.output()).toMatch(/; read-only\)/);
      const approvals = (await (await fetch(new URL('/api/approvals', viewer.url))).json()) as { approval_id: string }[];
      expect(approvals.map((a) => a.approval_id)).toEqual(['appr-1']);
      const decision = await fetch(new URL('/api/approvals/appr-1/approve', viewer.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(decision.status).toBe(403);
      expect(((await decision.json()) as { error: string }).error).toContain('switchyard approvals approve');
    } finally {
      await stopped(viewer);
    }
  });

  it('refuses a directory with no database, in one line', () => {
    const result = runCli(['--data-dir', join(dir(), 'none'), 'console', '--port', '0'], env);
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^switchyard: no Switchyard database at /)]);
  });
});
