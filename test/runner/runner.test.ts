import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { writeDestinationsFile, type DestinationsPayload } from '../../src/adapters/destinations-file';
import { initSessionFolder, nextEvenSeq, openInboundDb } from '../../src/adapters/session-db';
import { RUNNER_PATH } from '../../src/host';
import { waitUntil } from '../support/wait';

const family = { name: 'family', displayName: 'Family', type: 'channel' as const, channelType: 'telegram', platformId: '-1001' };
const research = { name: 'research', displayName: 'Research', type: 'agent' as const, agentGroupId: 'ag-research' };

interface OutRow {
  id: string;
  seq: number;
  in_reply_to: string | null;
  channel_type: string | null;
  platform_id: string | null;
  thread_id: string | null;
  content: string;
}

/** The container-side runner as a real child process against a real session folder. */
describe('agent runner (docker/runner, real child process)', () => {
  let root: string;
  const dir = () => join(root, 'session');
  let runner: ChildProcess | undefined;
  let stderr = '';

  const writeMap = (destinations: DestinationsPayload['destinations']) => writeDestinationsFile(dir(), { destinations });
  /** A messages_in row as the host writes it (even seq). */
  const receive = (id: string, content: Record<string, unknown>, extra: { channelType?: string; platformId?: string; threadId?: string | null; processAfter?: string; kind?: string } = {}) => {
    const db = openInboundDb(dir());
    try {
      db.prepare(
        `INSERT INTO messages_in (id, seq, kind, timestamp, status, process_after, platform_id, channel_type, thread_id, content)
         VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)`,
      ).run(id, nextEvenSeq(db), extra.kind ?? 'chat', new Date().toISOString(), extra.processAfter ?? null, extra.platformId ?? '-1001', extra.channelType ?? 'telegram', extra.threadId ?? null, JSON.stringify(content));
    } finally {
      db.close();
    }
  };
  const outbound = <T>(sql: string): T[] => {
    const db = new Database(join(dir(), 'outbound.db'), { readonly: true });
    try {
      return db.prepare(sql).all() as T[];
    } finally {
      db.close();
    }
  };
  const rows = () => outbound<OutRow>('SELECT * FROM messages_out ORDER BY seq');
  const acks = () => Object.fromEntries(outbound<{ message_id: string; status: string }>('SELECT * FROM processing_ack').map((a) => [a.message_id, a.status]));
  const start = (env: Record<string, string> = {}) => {
    runner = spawn(process.execPath, [RUNNER_PATH], {
      env: {
        PATH: process.env.PATH,
        SESSION_INBOUND_DB_PATH: join(dir(), 'inbound.db'),
        SESSION_OUTBOUND_DB_PATH: join(dir(), 'outbound.db'),
        SESSION_HEARTBEAT_PATH: join(dir(), '.heartbeat'),
        SWITCHYARD_RUNNER_POLL_MS: '20',
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    runner.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  };
  const exited = () => new Promise<number | null>((resolve) => (runner!.exitCode !== null ? resolve(runner!.exitCode) : runner!.once('exit', (code) => resolve(code))));

  beforeEach(() => {
    stderr = '';
    root = mkdtempSync(join(tmpdir(), 'switchyard-runner-'));
    initSessionFolder(dir());
    writeMap([family, research]);
  });
  // The runner is gone before its folder is removed: it writes there until it exits.
  afterEach(async () => {
    if (runner && runner.exitCode === null && runner.signalCode === null) {
      runner.kill('SIGKILL');
      await exited();
    }
    runner = undefined;
    rmSync(root, { recursive: true, force: true });
  });

  it('answers a message to where it came from, in its thread, with odd seq, and acknowledges it', async () => {
    receive('m-1', { text: 'hello' }, { threadId: 't-7' });
    start();
    await waitUntil(() => acks()['m-1'] === 'completed', `m-1 acknowledged\n${stderr}`);
    expect(rows()).toEqual([
      expect.objectContaining({ seq: 1, in_reply_to: 'm-1', channel_type: 'telegram', platform_id: '-1001', thread_id: 't-7', content: JSON.stringify({ text: 'echo: hello' }) }),
    ]);
    expect(statSync(join(dir(), '.heartbeat')).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
    // stderr is a pipe: its lines may arrive after the database shows the answer.
    await waitUntil(() => stderr.includes('"event":"Scratchpad"'), 'the scratchpad logged on stderr');
  });

  it('routes by name: an agent destination, and a name it lacks (sent unrouted so the host records the refusal)', async () => {
    receive('m-1', { text: '@to:research look this up' });
    receive('m-2', { text: '@to:nowhere psst' });
    start();
    await waitUntil(() => acks()['m-2'] === 'completed', `m-2 acknowledged\n${stderr}`);
    const [toAgent, unknown] = rows();
    expect(toAgent).toEqual(expect.objectContaining({ seq: 1, channel_type: 'agent', platform_id: 'ag-research', thread_id: null }));
    expect(unknown).toEqual(expect.objectContaining({ seq: 3, channel_type: null, platform_id: null, content: JSON.stringify({ text: 'psst', to: 'nowhere' }) }));
  });

  it('takes a scheduled message only once it is due, compared as an instant', async () => {
    // Same instant as a string that sorts after "now": a string comparison would take it at once.
    const later = new Date(Date.now() + 1500).toISOString().replace('Z', '+00:00');
    receive('task-1', { prompt: 'tick' }, { kind: 'task', processAfter: later });
    receive('m-now', { text: 'now' });
    start();
    await waitUntil(() => acks()['m-now'] === 'completed', 'm-now');
    expect(acks()['task-1']).toBeUndefined();
    await waitUntil(() => acks()['task-1'] === 'completed', 'task-1 once due');
    expect(rows().map((r) => JSON.parse(r.content).text)).toEqual(['echo: now', 'echo: tick']);
  });

  it('reloads the destination map when the host rewrites it', async () => {
    start();
    await waitUntil(() => stderr.includes('DestinationsLoaded'), 'the first load');
    writeMap([family, research, { name: 'child', displayName: 'Child', type: 'agent', agentGroupId: 'ag-child' }]);
    // The file's mtime must change for a reload to be seen, even on coarse clocks.
    await waitUntil(() => (stderr.match(/DestinationsLoaded/g) ?? []).length >= 2, 'the reload');
    receive('m-1', { text: '@to:child welcome' });
    await waitUntil(() => acks()['m-1'] === 'completed', 'm-1');
    expect(rows()[0]).toEqual(expect.objectContaining({ channel_type: 'agent', platform_id: 'ag-child' }));
  });

  it('releases claims a previous run left in processing, and exits 0 on SIGTERM', async () => {
    receive('m-1', { text: 'again' });
    const db = new Database(join(dir(), 'outbound.db'));
    db.prepare(`INSERT INTO processing_ack VALUES ('m-1', 'processing', ?)`).run(new Date().toISOString());
    db.close();
    start();
    await waitUntil(() => acks()['m-1'] === 'completed', `m-1 retried\n${stderr}`);
    runner!.kill('SIGTERM');
    expect(await exited()).toBe(0);
    await waitUntil(() => stderr.includes('"releasedClaims":1'), 'the released claim logged on stderr');
  });

  describe('anthropic provider (a loopback server speaking the Messages API)', () => {
    let server: Server;
    const requests: Array<{ headers: Record<string, unknown>; body: { system: string; messages: Array<{ content: string }> } }> = [];
    beforeAll(async () => {
      server = createServer((request, response) => {
        let body = '';
        request.on('data', (chunk: Buffer) => (body += chunk.toString()));
        request.on('end', () => {
          requests.push({ headers: request.headers, body: JSON.parse(body) });
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(
            JSON.stringify({
              id: 'msg_1',
              type: 'message',
              role: 'assistant',
              model: 'claude-test',
              content: [{ type: 'text', text: 'Let me answer.<message to="family">hi from claude</message>' }],
              stop_reason: 'end_turn',
              stop_sequence: null,
              usage: { input_tokens: 1, output_tokens: 1 },
            }),
          );
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('sends the destinations in the system prompt and the attributed message, with the key; writes the answer', async () => {
      receive('m-1', { text: 'who are you?' });
      start({ SWITCHYARD_AGENT_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      await waitUntil(() => acks()['m-1'] === 'completed', `m-1 answered\n${stderr}`);
      expect(requests[0]!.headers['x-api-key']).toBe('sk-test');
      expect(requests[0]!.body.system).toContain('"family" (Family, a telegram chat)');
      expect(requests[0]!.body.system).toContain('<message to="name">');
      expect(requests[0]!.body.messages[0]!.content).toBe('<message from="family" kind="chat">who are you?</message>');
      expect(rows()[0]).toEqual(expect.objectContaining({ platform_id: '-1001', content: JSON.stringify({ text: 'hi from claude' }) }));
    });
  });
});
