import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LEASE_FILE, leaseHolder } from '../../src/adapters/lease';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { centralDatabasePath, openDataDir } from '../../src/core';
import { startFixture } from '../fixtures/child';
import { startCli, type CliResult } from '../support/cli';
import { startHost } from '../support/host-process';
import { useTempDir } from '../support/temp';

/** Resolves as `promise` does; after `ms` calls `giveUp` and rejects saying what was still running (it should have exited). */
async function within<T>(promise: Promise<T>, ms: number, giveUp: () => void, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      giveUp();
      reject(new Error(`${what()} was still running after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the built CLI to its exit. */
function runToExit(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const cli = startCli(args, { SWITCHYARD_RUNTIME: 'external', ...env });
  return within(cli.done, 20_000, () => cli.child.kill('SIGKILL'), () => `switchyard ${args.join(' ')}\n${cli.output()}`);
}

/** The lines of stderr a person sees. */
const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');

/** Exit ≠ 0 and exactly one line on stderr, no stack trace. */
function expectOneLineFailure(result: CliResult, pattern: RegExp): void {
  expect({ status: result.status, stderr: lines(result.stderr) }).toEqual({ status: expect.any(Number), stderr: [expect.stringMatching(pattern)] });
  expect(result.status).not.toBe(0);
}

describe('switchyard start is all or nothing (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  const start = (port: number | string, extra: string[] = []) => ['--data-dir', dataDir(), ...extra, 'start', '--webhook-port', String(port), '--webhook-deliver-url', 'http://127.0.0.1:9/deliver'];

  let occupant: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (occupant ? occupant.close(() => resolve()) : resolve()));
    occupant = undefined;
  });
  const occupyPort = async (): Promise<number> => {
    occupant = createServer();
    await new Promise<void>((resolve) => occupant!.listen(0, '127.0.0.1', resolve));
    return (occupant.address() as { port: number }).port;
  };

  it('given the webhook port is in use, when the host starts, then it exits non-zero with one line naming the port, leaves the lease free, and a start on a free port then works', async () => {
    const port = await occupyPort();
    const failed = await runToExit(start(port));
    expectOneLineFailure(failed, new RegExp(`\\b${port}\\b.*in use`));
    expect(failed.stderr).not.toMatch(/^\s+at /m);
    expect(failed.stdout).not.toMatch(/running/);
    expect(leaseHolder(dataDir())).toBeUndefined();
    expect(existsSync(join(dataDir(), LEASE_FILE))).toBe(false);

    const host = await startHost(dataDir(), 'http://127.0.0.1:9/deliver');
    try {
      expect(leaseHolder(dataDir())).toBe(host.child.pid);
    } finally {
      host.child.kill('SIGTERM');
      expect((await host.done).status).toBe(0);
    }
  });

  it('given the port is in use and --log-level debug, then the stack of the failure is shown', async () => {
    const port = await occupyPort();
    const failed = await runToExit(start(port, ['--log-level', 'debug']));
    expect(failed.status).not.toBe(0);
    expect(failed.stderr).toMatch(/EADDRINUSE/);
    expect(failed.stderr).toMatch(/at .*\(node:net/);
  });

  it('given switchyard.db holds garbage, when the host starts, then it refuses in one line, exits non-zero and leaves the file as it was', async () => {
    mkdirSync(dataDir(), { recursive: true });
    const garbage = Buffer.from('this is not a database, it is a shopping list: eggs, milk, '.repeat(100));
    writeFileSync(centralDatabasePath(dataDir()), garbage);
    const failed = await runToExit(start(0));
    expectOneLineFailure(failed, /switchyard\.db.*not a SQLite database/);
    expect(readFileSync(centralDatabasePath(dataDir()))).toEqual(garbage);
    expect(existsSync(join(dataDir(), LEASE_FILE))).toBe(false);
  });

  it('given a database whose schema page is corrupt (header intact), when the host starts, then it exits non-zero with one clear line', async () => {
    const core = openDataDir(dataDir());
    core.bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-1', name: 'One', folder: 'one' }));
    core.close();
    const path = centralDatabasePath(dataDir());
    const bytes = readFileSync(path);
    // Keep the 100-byte file header, scramble the rest of page 1 (the schema).
    bytes.fill(0xa5, 100, 4096);
    writeFileSync(path, bytes);
    const failed = await runToExit(start(0));
    expectOneLineFailure(failed, /could not start the host: .*(malformed|not a database)/);
    expect(existsSync(join(dataDir(), LEASE_FILE))).toBe(false);
  });

  it('given a zero-byte switchyard.db, when the host starts, then it is refused as not a database, not taken for a new install', async () => {
    mkdirSync(dataDir(), { recursive: true });
    writeFileSync(centralDatabasePath(dataDir()), '');
    const failed = await runToExit(start(0));
    expectOneLineFailure(failed, /switchyard\.db.*empty \(0 bytes\)/);
    expect(statSync(centralDatabasePath(dataDir())).size).toBe(0);
  });

  it('given a failure injected late in the assembly (a channel fails after the webhook listens), then nothing is left running: the process exits by itself, the port and the lease are free, the store closed', async () => {
    const child = startFixture('start-fails-late', [dataDir()]);
    try {
      const url = (await child.line(/^listening /)).slice('listening '.length);
      await child.line(/^start failed: injected/);
      // Node exits on its own only when no server, timer, subscription or child process is left.
      expect(await within(child.exited, 15_000, () => child.process.kill('SIGKILL'), () => `the failed host\n${child.stderr()}`)).toEqual({ code: 0, signal: null });
      expect(child.stdout()).not.toMatch(/^started/m);
      await expect(fetch(`${url}/health`)).rejects.toThrow();
      expect(existsSync(join(dataDir(), LEASE_FILE))).toBe(false);
      // The last connection to close checkpoints the WAL away.
      expect(existsSync(`${centralDatabasePath(dataDir())}-wal`)).toBe(false);
    } finally {
      await child.kill();
    }
  });
});

describe('a database that is not a Switchyard database, and read commands (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  const dbPath = () => centralDatabasePath(dataDir());
  const READ_COMMANDS = [['status'], ['audit'], ['events'], ['explain', 'msg-1'], ['acl', 'ag-1'], ['sessions', 'list']];

  it('given a zero-byte switchyard.db, then status and a write command refuse it with one line and leave it zero bytes', async () => {
    mkdirSync(dataDir(), { recursive: true });
    writeFileSync(dbPath(), '');
    expectOneLineFailure(await runToExit(['--data-dir', dataDir(), 'status']), /switchyard\.db.*empty \(0 bytes\)/);
    expectOneLineFailure(await runToExit(['--data-dir', dataDir(), 'groups', 'create', '--name', 'One', '--folder', 'one']), /switchyard\.db.*empty \(0 bytes\)/);
    expect(statSync(dbPath()).size).toBe(0);
  });

  it('given no database, then read commands refuse and create nothing', async () => {
    for (const args of READ_COMMANDS) {
      expectOneLineFailure(await runToExit(['--data-dir', dataDir(), ...args]), /no Switchyard database at/);
    }
    expect(existsSync(dataDir())).toBe(false);
  });

  it('given a database that needs a migration, then every read command refuses with one line and none migrates it', async () => {
    openDataDir(dataDir()).close();
    const db = new Database(dbPath());
    const last = db.prepare('SELECT file FROM schema_migrations ORDER BY file DESC LIMIT 1').pluck().get() as string;
    db.prepare('DELETE FROM schema_migrations WHERE file = ?').run(last);
    db.close();
    for (const args of READ_COMMANDS) {
      expectOneLineFailure(await runToExit(['--data-dir', dataDir(), ...args]), new RegExp(`needs migration.*${last}`));
    }
    const after = new Database(dbPath(), { readonly: true });
    expect(after.prepare('SELECT count(*) FROM schema_migrations WHERE file = ?').pluck().get(last)).toBe(0);
    after.close();
  });

  it('given an up-to-date database, then read commands open it read-only and work', async () => {
    const core = openDataDir(dataDir());
    core.bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-1', name: 'One', folder: 'one' }));
    core.close();
    const before = readFileSync(dbPath());
    for (const args of [['status'], ['events'], ['groups', 'list'], ['acl', 'ag-1']]) {
      const result = await runToExit(['--data-dir', dataDir(), ...args]);
      expect({ args, status: result.status, stderr: result.stderr }).toEqual({ args, status: 0, stderr: '' });
    }
    expect(readFileSync(dbPath())).toEqual(before);
  });
});
