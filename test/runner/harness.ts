import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { writeDestinationsFile, type DestinationEntry } from '../../src/adapters/destinations-file';
import { initSessionFolder, nextEvenSeq, openInboundDb } from '../../src/adapters/session-db';

/** The compiled runner (`npm run build` first), spawned as the process runtime does. */
export const RUNNER = join(__dirname, '..', '..', 'dist', 'docker', 'runner', 'main.js');

export const family: DestinationEntry = { name: 'family', displayName: 'Family', type: 'channel', channelType: 'telegram', platformId: '-1001' };
export const team: DestinationEntry = { name: 'team', displayName: 'Team', type: 'channel', channelType: 'slack', platformId: 'C42' };
export const research: DestinationEntry = { name: 'research', displayName: 'Research', type: 'agent', agentGroupId: 'ag-research' };

export interface OutRow {
  id: string;
  seq: number;
  in_reply_to: string | null;
  timestamp: string;
  deliver_after: string | null;
  recurrence: string | null;
  kind: string;
  channel_type: string | null;
  platform_id: string | null;
  thread_id: string | null;
  content: string;
}

export interface Inbound {
  channelType?: string | null;
  platformId?: string | null;
  threadId?: string | null;
  processAfter?: string;
  kind?: string;
}

/**
 * A session folder made by the host's own code, and the runner as a real child process
 * against it. Registers its own beforeEach/afterEach: one fresh folder and runner per test.
 */
export function useRunnerSession() {
  let root = '';
  let runner: ChildProcess | undefined;
  let exit: Promise<number | null> | undefined;
  const session = {
    stderr: '',
    dir: () => join(root, 'session'),
    writeMap: (destinations: DestinationEntry[]) => writeDestinationsFile(session.dir(), { destinations }),
    /** A messages_in row as the host writes it (even seq, status pending). */
    receive(id: string, content: Record<string, unknown>, extra: Inbound = {}): void {
      const db = openInboundDb(session.dir());
      try {
        db.prepare(
          `INSERT INTO messages_in (id, seq, kind, timestamp, status, process_after, platform_id, channel_type, thread_id, content)
           VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)`,
        ).run(
          id,
          nextEvenSeq(db),
          extra.kind ?? 'chat',
          new Date().toISOString(),
          extra.processAfter ?? null,
          extra.platformId === undefined ? '-1001' : extra.platformId,
          extra.channelType === undefined ? 'telegram' : extra.channelType,
          extra.threadId ?? null,
          JSON.stringify(content),
        );
      } finally {
        db.close();
      }
    },
    outbound<T>(sql: string): T[] {
      const db = new Database(join(session.dir(), 'outbound.db'), { readonly: true });
      try {
        return db.prepare(sql).all() as T[];
      } finally {
        db.close();
      }
    },
    rows: () => session.outbound<OutRow>('SELECT * FROM messages_out ORDER BY seq'),
    acks: (): Record<string, string> =>
      Object.fromEntries(session.outbound<{ message_id: string; status: string }>('SELECT * FROM processing_ack').map((a) => [a.message_id, a.status])),
    start(env: Record<string, string> = {}): ChildProcess {
      const child = spawn(process.execPath, [RUNNER], {
        env: {
          PATH: process.env.PATH,
          SESSION_INBOUND_DB_PATH: join(session.dir(), 'inbound.db'),
          SESSION_OUTBOUND_DB_PATH: join(session.dir(), 'outbound.db'),
          SESSION_HEARTBEAT_PATH: join(session.dir(), '.heartbeat'),
          NANOCLAW_ASSISTANT_NAME: 'Andy',
          NANOCLAW_AGENT_GROUP_NAME: 'Andy',
          SWITCHYARD_RUNNER_POLL_MS: '20',
          ...env,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      runner = child;
      // 'close', not 'exit': by then all of its stderr has been read.
      exit = new Promise((resolve) => child.once('close', (code) => resolve(code)));
      child.stderr!.on('data', (chunk: Buffer) => (session.stderr += chunk.toString()));
      return child;
    },
    /** The runner's exit code, once it has exited. */
    exited: (): Promise<number | null> => exit!,
    /** The complete stderr lines with this event, parsed. */
    events: (event: string): Array<Record<string, unknown>> =>
      session.stderr
        .split('\n')
        .slice(0, -1)
        .filter((line) => line.includes(`"event":"${event}"`))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };

  beforeEach(() => {
    session.stderr = '';
    root = mkdtempSync(join(tmpdir(), 'switchyard-runner-'));
    initSessionFolder(session.dir());
    session.writeMap([family, team, research]);
  });
  // The runner is gone before its folder is removed: it writes there until it exits.
  afterEach(async () => {
    if (runner && runner.exitCode === null && runner.signalCode === null) {
      runner.kill('SIGKILL');
      await exit;
    }
    runner = undefined;
    rmSync(root, { recursive: true, force: true });
  });
  return session;
}
