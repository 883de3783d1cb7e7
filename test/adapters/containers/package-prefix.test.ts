import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPackagePrefix } from '../../../src/adapters/containers/package-prefix';
import { ProcessRuntime } from '../../../src/adapters/containers/process';
import type { ContainerExit } from '../../../src/adapters/containers/runtime';
import { useTempDir } from '../../support/temp';

/** Issue 18: approved npm packages reach an agent that runs as a child process (the registry is reachable here and in CI). */
describe("the process runtime's package folder", () => {
  const tempDir = useTempDir();
  const root = () => join(tempDir(), 'packages');

  it('installs the npm packages into a folder named by their hash, and the same list again builds nothing', async () => {
    const first = await buildPackagePrefix(root(), { apt: [], npm: ['is-number@7.0.0'] });
    expect(first).toEqual(expect.objectContaining({ ok: true, built: true, resolved: [{ manager: 'npm', name: 'is-number', version: '7.0.0' }] }));
    if (!first.ok) return;
    expect(existsSync(join(first.tag, 'node_modules', 'is-number', 'package.json'))).toBe(true);
    const again = await buildPackagePrefix(root(), { apt: [], npm: ['is-number@7.0.0'] });
    expect(again).toEqual(expect.objectContaining({ ok: true, built: false, tag: first.tag, resolved: first.resolved }));
  }, 120_000);

  it('refuses apt packages with the reason: they need the docker runtime', async () => {
    expect(await buildPackagePrefix(root(), { apt: ['jq'], npm: [] })).toEqual({ ok: false, reason: expect.stringContaining('apt packages (jq) need the docker runtime'), logTail: '', packagesRefused: true });
  });

  it("fails a package the registry does not have with npm's own message, leaving no folder behind", async () => {
    const result = await buildPackagePrefix(root(), { apt: [], npm: ['switchyard-no-such-package-0d1e'] });
    expect(result).toEqual(expect.objectContaining({ ok: false, reason: expect.stringMatching(/npm failed: npm error .*(404|Not Found)/) }));
    expect(readdirSync(root())).toEqual([]);
  }, 120_000);

  it("runs the agent with the folder's modules where require() looks", async () => {
    const built = await buildPackagePrefix(root(), { apt: [], npm: ['is-number@7.0.0'] });
    if (!built.ok) throw new Error(built.reason);
    const runner = join(tempDir(), 'runner.js');
    writeFileSync(runner, "process.stderr.write(require('is-number')(5) + ' ' + require.resolve('is-number') + '\\n');");
    const runtime = new ProcessRuntime({ runnerPath: runner, stateDir: join(tempDir(), 'state') });
    const exited = new Promise<ContainerExit>((resolve) => runtime.onExit(resolve));
    await runtime.start({
      installId: 'i', sessionId: 'sess-1', agentGroupId: 'ag-1', incarnationId: 'inc-1', sessionDir: tempDir(), groupDir: join(tempDir(), 'group'), globalDir: join(tempDir(), 'global'),
      logFile: join(tempDir(), 'logs', 'sess-1.log'), image: built.tag, env: {},
    });
    expect((await exited).stderrTail).toBe(`true ${join(built.tag, 'node_modules', 'is-number', 'index.js')}`);
  }, 120_000);
});
