import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { initSessionFolder } from '../../src/adapters/session-db';
import { waitUntil } from '../support/wait';
import { family, research, team, useRunnerSession } from './harness';

/** A session database time (`YYYY-MM-DD HH:MM:SS`, UTC) as an instant, whatever this machine's zone. */
const utc = (time: string) => Date.parse(`${time.replace(' ', 'T')}Z`);

/** The container-side runner as a real child process against a real session folder. */
describe('agent runner (docker/runner, real child process)', () => {
  const session = useRunnerSession();
  const { receive, rows, acks, start } = session;
  const heartbeat = () => statSync(join(session.dir(), '.heartbeat')).mtimeMs;

  it('answers a message to where it came from, in its thread, with an odd seq, acknowledges it and beats', async () => {
    receive('m-1', { text: 'hello' }, { threadId: 't-7' });
    start();
    await waitUntil(() => acks()['m-1'] === 'completed', `m-1 acknowledged\n${session.stderr}`);
    const [row, ...others] = rows();
    expect(others).toEqual([]);
    expect(row).toEqual({
      id: expect.stringMatching(/^out-/),
      seq: 1,
      in_reply_to: 'm-1',
      timestamp: expect.any(String),
      deliver_after: null,
      recurrence: null,
      kind: 'chat',
      channel_type: 'telegram',
      platform_id: '-1001',
      thread_id: 't-7',
      content: JSON.stringify({ text: 'echo: hello' }),
    });
    expect(row!.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(Math.abs(utc(row!.timestamp) - Date.now())).toBeLessThan(60_000);
    // The heartbeat keeps moving while the runner idles.
    const first = heartbeat();
    await waitUntil(() => heartbeat() > first, 'a later heartbeat');
  });

  it('takes a message as soon as the host writes it, with the poll set to a minute (it watches inbound.db)', async () => {
    start({ SWITCHYARD_RUNNER_POLL_MS: '60000' });
    // Logged right before its first look at inbound.db, which finds nothing: the next look is the watch's doing.
    await waitUntil(() => session.events('RunnerStarted').length === 1, `the runner started\n${session.stderr}`);
    receive('m-1', { text: 'hello' });
    await waitUntil(() => acks()['m-1'] === 'completed', `m-1 acknowledged\n${session.stderr}`, 20_000);
    expect(rows().map((row) => row.content)).toEqual([JSON.stringify({ text: 'echo: hello' })]);
  });

  it('routes by its own map: another chat (no thread), an agent, and a name it lacks (unrouted, for the host to refuse)', async () => {
    receive('m-1', { text: '@to:team over to you' }, { threadId: 't-7' });
    receive('m-2', { text: '@to:research look this up' }, { threadId: 't-7' });
    receive('m-3', { text: '@to:nowhere psst' });
    start();
    await waitUntil(() => acks()['m-3'] === 'completed', `m-3 acknowledged\n${session.stderr}`);
    expect(rows()).toEqual([
      expect.objectContaining({ seq: 1, in_reply_to: 'm-1', channel_type: 'slack', platform_id: 'C42', thread_id: null, content: JSON.stringify({ text: 'over to you' }) }),
      expect.objectContaining({ seq: 3, in_reply_to: 'm-2', channel_type: 'agent', platform_id: 'ag-research', thread_id: null }),
      expect.objectContaining({ seq: 5, in_reply_to: 'm-3', channel_type: null, platform_id: null, thread_id: null, content: JSON.stringify({ text: 'psst', to: 'nowhere' }) }),
    ]);
    await waitUntil(() => session.events('UnknownDestination').some((e) => e.to === 'nowhere'), 'the unknown name logged');
  });

  it('names the origin by its map: an agent by its group id, a stranger as nobody (scratchpad only)', async () => {
    receive('from-agent', { text: 'done' }, { channelType: 'agent', platformId: 'ag-research' });
    receive('from-stranger', { text: 'hi?' }, { channelType: 'telegram', platformId: '-999' });
    receive('from-nowhere', { text: 'system says hi' }, { channelType: null, platformId: null, kind: 'system' });
    start();
    await waitUntil(() => acks()['from-nowhere'] === 'completed', `all acknowledged\n${session.stderr}`);
    expect(acks()).toEqual({ 'from-agent': 'completed', 'from-stranger': 'completed', 'from-nowhere': 'completed' });
    expect(rows()).toEqual([expect.objectContaining({ in_reply_to: 'from-agent', channel_type: 'agent', platform_id: 'ag-research', content: JSON.stringify({ text: 'echo: done' }) })]);
    await waitUntil(() => session.events('Scratchpad').filter((e) => e.messageId !== 'from-agent').length === 2, 'the unanswerable ones logged as scratchpad');
  });

  it('takes a scheduled message only once it is due, compared as an instant', async () => {
    receive('m-now', { text: 'now' });
    start();
    await waitUntil(() => acks()['m-now'] === 'completed', 'm-now');
    // Written once the runner is polling, so that how fast a loaded machine starts it does not matter.
    // The same instant spelled "+00:00" sorts after any "…Z" of that day: a string comparison would take it at once.
    const later = new Date(Date.now() + 1500).toISOString().replace('Z', '+00:00');
    receive('task-1', { prompt: 'tick', script: null }, { kind: 'task', processAfter: later });
    await waitUntil(() => acks()['task-1'] === 'completed', 'task-1 once due');
    expect(rows().map((r) => JSON.parse(r.content).text)).toEqual(['echo: now', 'echo: tick']);
    // Stamped rounded up to the second, so never before it was written: taken at once, it would be stamped before `later`.
    expect(utc(rows()[1]!.timestamp)).toBeGreaterThanOrEqual(Date.parse(later));
  });

  it('reads the session databases’ own time form (spec §2) as UTC, whatever the machine’s time zone', async () => {
    // How the host writes a retry: whole seconds, `YYYY-MM-DD HH:MM:SS`, no zone.
    const due = Math.ceil((Date.now() + 1500) / 1000) * 1000;
    receive('m-1', { text: 'again' }, { processAfter: new Date(due).toISOString().slice(0, 19).replace('T', ' ') });
    start({ TZ: 'Asia/Tokyo' });
    await waitUntil(() => acks()['m-1'] === 'completed', `m-1 once due\n${session.stderr}`);
    expect(Date.now()).toBeGreaterThanOrEqual(due);
    expect(rows()).toEqual([expect.objectContaining({ in_reply_to: 'm-1' })]);
    expect(utc(rows()[0]!.timestamp)).toBeGreaterThanOrEqual(due);
  });

  it('reloads the destination map when the host rewrites it', async () => {
    start();
    await waitUntil(() => session.events('DestinationsLoaded').length === 1, 'the first load');
    session.writeMap([family, team, research, { name: 'child', displayName: 'Child', type: 'agent', agentGroupId: 'ag-child' }]);
    await waitUntil(() => session.events('DestinationsLoaded').length === 2, 'the reload');
    expect(session.events('DestinationsLoaded')[1]!.names).toEqual(['family', 'team', 'research', 'child']);
    receive('m-1', { text: '@to:child welcome' });
    await waitUntil(() => acks()['m-1'] === 'completed', 'm-1');
    expect(rows()[0]).toEqual(expect.objectContaining({ channel_type: 'agent', platform_id: 'ag-child', thread_id: null }));
  });

  it('waits for a session folder the host has not created yet', async () => {
    rmSync(join(session.dir(), 'inbound.db'));
    rmSync(join(session.dir(), 'outbound.db'));
    start();
    await waitUntil(() => session.events('SessionNotReady').length === 1, `the runner waiting\n${session.stderr}`);
    initSessionFolder(session.dir());
    receive('m-1', { text: 'there you are' });
    await waitUntil(() => acks()['m-1'] === 'completed', `m-1\n${session.stderr}`);
    expect(rows()).toHaveLength(1);
  });

  it('releases claims a previous run left in processing, continues the odd seqs (past a text seq), and exits 0 on SIGTERM', async () => {
    receive('m-1', { text: 'again' });
    const db = new Database(join(session.dir(), 'outbound.db'));
    db.prepare(`INSERT INTO processing_ack VALUES ('m-1', 'processing', ?)`).run(new Date().toISOString());
    db.prepare(`INSERT INTO messages_out (id, seq, timestamp, kind, content) VALUES ('old', 3, ?, 'chat', '{}')`).run(new Date().toISOString());
    db.prepare(`INSERT INTO messages_out (id, seq, timestamp, kind, content) VALUES ('odd', 'abc', ?, 'chat', '{}')`).run(new Date().toISOString());
    db.close();
    const child = start();
    await waitUntil(() => acks()['m-1'] === 'completed', `m-1 retried\n${session.stderr}`);
    expect(rows().map((r) => r.seq)).toEqual([3, 5, 'abc']);
    child.kill('SIGTERM');
    expect(await session.exited()).toBe(0);
    expect(session.events('RunnerStarted')[0]!.releasedClaims).toBe(1);
    expect(session.events('RunnerStopped')).toHaveLength(1);
  });

  it('fails at start, with a reason, on a provider it does not know', async () => {
    start({ SWITCHYARD_AGENT_PROVIDER: 'gpt-9' });
    expect(await session.exited()).toBe(1);
    expect(session.events('RunnerFailed')[0]!.error).toContain('unknown SWITCHYARD_AGENT_PROVIDER gpt-9');
  });
});
