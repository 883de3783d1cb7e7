import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProcessRuntime } from '../../../src/adapters/containers/process';
import { useTempDir } from '../../support/temp';

/** Where the process runtime looks for an MCP server's command: the PATH its agent gets. */
describe('process runtime: is a command where the agent runs?', () => {
  const tempDir = useTempDir();

  it('finds it on the host’s PATH, at an absolute path, or among the group’s approved npm programs; not a folder, not a file it cannot run', async () => {
    const runtime = new ProcessRuntime({ runnerPath: '/nonexistent/runner.js', stateDir: join(tempDir(), 'run') });
    // A package folder as package-prefix.ts builds it: the group's "image" in this runtime.
    const prefix = join(tempDir(), 'packages', 'abc123');
    const bin = join(prefix, 'node_modules', '.bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'weather-mcp'), '#!/bin/sh\n');
    chmodSync(join(bin, 'weather-mcp'), 0o755);
    writeFileSync(join(bin, 'not-executable'), '');

    expect(await runtime.hasCommand('node', 'switchyard-agent:latest')).toBe(true);
    expect(await runtime.hasCommand(process.execPath, 'switchyard-agent:latest')).toBe(true);
    expect(await runtime.hasCommand('weather-mcp', prefix)).toBe(true);
    expect(await runtime.hasCommand('weather-mcp', 'switchyard-agent:latest')).toBe(false);
    expect(await runtime.hasCommand('not-executable', prefix)).toBe(false);
    expect(await runtime.hasCommand(bin, prefix)).toBe(false);
    expect(await runtime.hasCommand('mcp-server-nowhere', prefix)).toBe(false);
  });
});

describe('process runtime: closing', () => {
  const tempDir = useTempDir();

  it('given a runner still running (its session gone to another host), when the runtime closes, then the runner is stopped and its exit reported', async () => {
    const runner = join(tempDir(), 'runner.js');
    writeFileSync(runner, 'setInterval(() => undefined, 1000);\n');
    const runtime = new ProcessRuntime({ runnerPath: runner, stateDir: join(tempDir(), 'state') });
    const exits: Array<string | null> = [];
    runtime.onExit((exit) => exits.push(exit.signal));
    const sessionDir = join(tempDir(), 'session');
    mkdirSync(sessionDir, { recursive: true });
    const spec = { installId: 'test', sessionId: 's-1', agentGroupId: 'ag', incarnationId: 'inc-1', sessionDir, groupDir: sessionDir, globalDir: sessionDir, logFile: join(tempDir(), 's-1.log'), image: 'img', env: {} };
    const { runtimeId } = await runtime.start(spec);
    const pid = Number(runtimeId.replace('process-', ''));

    await runtime.close();

    expect(exits).toEqual(['SIGTERM']);
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
