import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { WebhookChannel } from '../../src/adapters/channels/webhook';
import { DESTINATIONS_FILE } from '../../src/adapters/destinations-file';
import { sessionDir } from '../../src/adapters/session-db';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import type { CommandEnvelope } from '../../src/commands/define';
import { AddDestination } from '../../src/commands/destinations';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { ScheduleTask } from '../../src/commands/tasks';
import { loadConfig, type Config } from '../../src/config';
import type { Core } from '../../src/core';
import type { RecordedEvent } from '../../src/events/define';
import { Host } from '../../src/host';
import { createLogger } from '../../src/logger';
import { writeOutbound } from '../support/container';
import { FakePlatform, postAction, postInbound } from '../support/fake-platform';
import { RecordingRuntime } from '../support/recording-runtime';
import { waitForEvents, waitUntil } from '../support/wait';

/**
 * The session folder as a contract (spec §2 and §9), checked the way a runner sees it: by
 * reading and writing the two databases and the destinations file, with the reference
 * runner's own SQL where it has one. Any host/runner pair must pass these; here it is
 * Switchyard's host with, in the second part, its own runner on the process runtime.
 */

/** The reference runner's poll, verbatim: a string comparison against SQLite's `YYYY-MM-DD HH:MM:SS`. */
const REFERENCE_DUE = `SELECT id FROM messages_in WHERE status = 'pending' AND (process_after IS NULL OR process_after <= datetime('now')) ORDER BY seq`;
const SESSION_TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/;

const readDb = <T>(path: string, read: (db: Database.Database) => T): T => {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
};

/** A runner's writes to outbound.db: the claim and the verdict. */
const ack = (dir: string, messageId: string, status: 'processing' | 'completed' | 'failed') => {
  const db = new Database(join(dir, 'outbound.db'));
  try {
    db.pragma('busy_timeout = 5000');
    db.prepare(
      `INSERT INTO processing_ack (message_id, status, status_changed) VALUES (?, ?, datetime('now'))
       ON CONFLICT (message_id) DO UPDATE SET status = excluded.status, status_changed = excluded.status_changed`,
    ).run(messageId, status);
  } finally {
    db.close();
  }
};

/** A host on a temp data dir with the webhook channel on loopback, Andy wired to the `fam` chat. */
async function openWorld(runtime: RecordingRuntime | 'process') {
  const root = mkdtempSync(join(tmpdir(), 'switchyard-contract-'));
  const dataDir = join(root, 'data');
  const platform = await FakePlatform.start();
  const channel = new WebhookChannel({ listen: { host: '127.0.0.1', port: 0 }, deliverUrl: platform.url });
  const flags: Partial<Config> = { dataDir, ...(runtime === 'process' && { runtime: 'process' }) };
  const config = loadConfig(flags, { SWITCHYARD_POLL_INTERVAL_MS: '20', SWITCHYARD_SWEEP_INTERVAL_MS: '100' });
  const host = await Host.start(config, { channels: [channel], logger: createLogger('silent'), ...(runtime !== 'process' && { runtime }) });
  const run = (envelope: CommandEnvelope) => {
    const outcome = host.core.bus.dispatch(envelope);
    if (outcome.status !== 'accepted') throw new Error(`${envelope.type} ${envelope.commandId} was ${outcome.status}`);
    return outcome;
  };
  run(CreateAgentGroup.envelope('andy', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
  run(CreateAgentGroup.envelope('bob', { agentGroupId: 'ag-bob', name: 'Bob', folder: 'bob' }));
  run(RegisterMessagingGroup.envelope('fam', { messagingGroupId: 'mg-fam', channelType: 'webhook', platformId: 'fam', name: 'Family' }));
  run(WireChannel.envelope('wire-fam', { messagingGroupId: 'mg-fam', agentGroupId: 'ag-andy' }));
  // Granted after the wiring's `family`: a second name for the same chat, and one that sorts before it.
  run(AddDestination.envelope('alias', { agentGroupId: 'ag-andy', localName: 'alpha', targetType: 'channel', targetId: 'mg-fam' }));
  run(AddDestination.envelope('to-bob', { agentGroupId: 'ag-andy', localName: 'bob', targetType: 'agent', targetId: 'ag-bob' }));

  /** Posts a message to Andy and resolves with its session's folder once the row is in inbound.db. */
  const openSession = async (messageId: string, text: string) => {
    await postInbound(channel.url(), { platformId: 'fam', messageId, content: { text } });
    const [routed] = await waitForEvents(host.core.store, (e) => e.type === 'InboundRouted');
    const { sessionId } = routed!.data as { sessionId: string };
    const dir = sessionDir(dataDir, 'ag-andy', sessionId);
    const world = { sessionId, dir, inbound: join(dir, 'inbound.db'), outbound: join(dir, 'outbound.db') };
    // The 202 says the message is in the log; the folder writer puts it in inbound.db right after.
    await host.settled();
    expect(rowsIn(world.inbound).length).toBeGreaterThan(0);
    return world;
  };
  const close = async () => {
    await host.stop();
    await platform.close();
    rmSync(root, { recursive: true, force: true });
  };
  return { host, core: host.core as Core, platform, channel, run, openSession, close };
}

interface InRow { id: string; seq: number; kind: string; status: string; process_after: string | null; content: string }
const rowsIn = (path: string): InRow[] => readDb(path, (db) => db.prepare('SELECT id, seq, kind, status, process_after, content FROM messages_in ORDER BY seq').all() as InRow[]);
const referenceDue = (path: string): string[] => readDb(path, (db) => db.prepare(REFERENCE_DUE).pluck().all() as string[]);
const taskRow = (path: string, prompt: string) => rowsIn(path).find((r) => r.kind === 'task' && JSON.parse(r.content).prompt === prompt);
const scheduled = (e: RecordedEvent) => e.type === 'TaskScheduled';

describe('session folder contract: the host side, with the test as the runner', () => {
  let world: Awaited<ReturnType<typeof openWorld>>;
  let runtime: RecordingRuntime;
  beforeEach(async () => {
    runtime = new RecordingRuntime();
    world = await openWorld(runtime);
  });
  afterEach(() => world.close());

  it('writes process_after as YYYY-MM-DD HH:MM:SS in UTC, due by the reference runner\'s string comparison: operator tasks, agent schedule_task in both forms, re-arms', async () => {
    const session = await world.openSession('m-1', 'hello');
    const now = Date.now();
    const iso = (at: number) => new Date(at).toISOString();
    const referenceForm = (at: number) => iso(at).slice(0, 19).replace('T', ' ');
    // What `switchyard tasks schedule --at` dispatches.
    world.run(ScheduleTask.envelope('op-past', { sessionId: session.sessionId, prompt: 'operator, a second ago', processAfter: iso(now - 1000) }));
    world.run(ScheduleTask.envelope('op-later', { sessionId: session.sessionId, prompt: 'operator, in a minute', processAfter: iso(now + 60_000) }));
    // An agent may write either form (spec §2).
    writeOutbound(session.dir, [
      { id: 'ask-past', kind: 'system', content: { action: 'schedule_task', prompt: 'agent, a second ago', processAfter: referenceForm(now - 1000) } },
      { id: 'ask-later', kind: 'system', content: { action: 'schedule_task', prompt: 'agent, in a minute', processAfter: iso(now + 60_000) } },
    ]);
    await waitForEvents(world.core.store, scheduled, 4);
    await waitUntil(() => rowsIn(session.inbound).filter((r) => r.kind === 'task').length === 4, 'four task rows');

    const byPrompt = (prompt: string) => taskRow(session.inbound, prompt)!;
    for (const prompt of ['operator, a second ago', 'operator, in a minute', 'agent, a second ago', 'agent, in a minute']) expect(byPrompt(prompt).process_after).toMatch(SESSION_TIME);
    const due = referenceDue(session.inbound);
    expect(due).toEqual(expect.arrayContaining([byPrompt('operator, a second ago').id, byPrompt('agent, a second ago').id]));
    expect(due).not.toContain(byPrompt('operator, in a minute').id);
    expect(due).not.toContain(byPrompt('agent, in a minute').id);

    // A recurring task's next occurrence, once the runner has answered the first.
    world.run(ScheduleTask.envelope('op-every', { sessionId: session.sessionId, prompt: 'every second', recurrence: '* * * * * *' }));
    await waitUntil(() => taskRow(session.inbound, 'every second') !== undefined, 'the first occurrence');
    const first = taskRow(session.inbound, 'every second')!;
    ack(session.dir, first.id, 'completed');
    const [, rearmed] = await waitForEvents(world.core.store, (e) => scheduled(e) && (e.data as { prompt: string }).prompt === 'every second', 2);
    const next = (rearmed!.data as { messageId: string; previousMessageId: string });
    expect(next.previousMessageId).toBe(first.id);
    await waitUntil(() => rowsIn(session.inbound).some((r) => r.id === next.messageId), 'the re-armed row');
    expect(rowsIn(session.inbound).find((r) => r.id === next.messageId)!.process_after).toMatch(SESSION_TIME);
    await waitUntil(() => referenceDue(session.inbound).includes(next.messageId), 'the re-armed row to be due by the reference comparison', 5_000);
  });

  it('a claimed message stays pending; a failed verdict is copied into messages_in; a message retried after its agent died falls due by the reference comparison', async () => {
    const session = await world.openSession('m-1', 'hello');
    const [message] = rowsIn(session.inbound);
    expect(message).toEqual(expect.objectContaining({ kind: 'chat', status: 'pending', process_after: null }));
    expect(referenceDue(session.inbound)).toEqual([message!.id]);

    ack(session.dir, message!.id, 'processing');
    await world.host.settled();
    await postInbound(world.channel.url(), { platformId: 'fam', messageId: 'm-2', content: { text: 'second' } });
    await waitUntil(() => rowsIn(session.inbound).length === 2, 'the second row');
    const second = rowsIn(session.inbound)[1]!;
    ack(session.dir, second.id, 'failed');
    await waitUntil(() => rowsIn(session.inbound)[1]!.status === 'failed', 'the failed verdict copied into messages_in');
    expect(rowsIn(session.inbound)[0]!.status).toBe('pending');

    // The agent dies holding its claim: the host retries the message later, in the form the reference reads.
    const [started] = await waitForEvents(world.core.store, (e) => e.type === 'ContainerStarted');
    await runtime.stop((started!.data as { runtimeId: string }).runtimeId);
    await waitForEvents(world.core.store, (e) => e.type === 'MessageRetryScheduled');
    await waitUntil(() => rowsIn(session.inbound)[0]!.process_after !== null, 'the retry in inbound.db');
    expect(rowsIn(session.inbound)[0]!.process_after).toMatch(SESSION_TIME);
    // A fresh runner drops the dead one's claim (spec §9); the row is then due when the reference says so.
    const release = new Database(session.outbound);
    release.prepare(`DELETE FROM processing_ack WHERE status = 'processing'`).run();
    release.close();
    expect(referenceDue(session.inbound)).not.toContain(message!.id);
    await waitUntil(() => referenceDue(session.inbound).includes(message!.id), 'the retried row to be due by the reference comparison', 10_000);
  });

  it('question responses: a click on an agent\'s ask_question card comes back as a pending `system` row, compact {"type":"question_response",questionId,selectedOption,userId}, at the next even seq, due by the reference comparison', async () => {
    const session = await world.openSession('m-1', 'shall we deploy?');
    await world.host.settled();
    const question = { type: 'ask_question', questionId: 'q-deploy', question: 'Deploy now?', options: ['Yes', 'No'] };
    writeOutbound(session.dir, [{ id: 'ask-1', channelType: 'webhook', platformId: 'fam', content: question }]);
    const [card] = await world.platform.waitFor(1);
    expect(card).toEqual(expect.objectContaining({ platformId: 'fam', content: question }));

    const click = await postAction(world.channel.url(), { platformId: 'fam', questionId: 'q-deploy', selectedOption: 'Yes', userId: 'U-ann' });
    expect(click).toEqual({ status: 200, json: { accepted: true } });
    await waitUntil(() => rowsIn(session.inbound).some((r) => r.kind === 'system'), 'the question_response row in inbound.db');
    const [chat, response] = rowsIn(session.inbound);
    expect(response).toEqual({
      id: expect.any(String),
      seq: chat!.seq + 2,
      kind: 'system',
      status: 'pending',
      process_after: null,
      content: '{"type":"question_response","questionId":"q-deploy","selectedOption":"Yes","userId":"U-ann"}',
    });
    expect(referenceDue(session.inbound)).toContain(response!.id);
  });

  it('reactions, edits and replies name messages by the ids the agent sees, and reach the platform with the platform\'s ids', async () => {
    const session = await world.openSession('tg-777', 'hello');
    await world.host.settled();
    // Whatever id the host stores for the platform's `tg-777` (spec §2), the agent names the message by it.
    const [seen] = rowsIn(session.inbound);
    writeOutbound(session.dir, [
      { id: 'out-reply', channelType: 'webhook', platformId: 'fam', inReplyTo: seen!.id, content: { text: 'on it' } },
      { id: 'out-react', channelType: 'webhook', platformId: 'fam', content: { operation: 'reaction', messageId: seen!.id, emoji: 'thumbs_up' } },
      // The agent's own earlier message, by its messages_out id: the platform knows it by the id it answered with.
      { id: 'out-edit', channelType: 'webhook', platformId: 'fam', content: { operation: 'edit', messageId: 'out-reply', text: 'done' } },
    ]);
    const [reply, reaction, edit] = await world.platform.waitFor(3);
    expect(reply).toMatchObject({ platformId: 'fam', content: { text: 'on it' }, inReplyTo: 'tg-777' });
    expect(reaction).toMatchObject({ platformId: 'fam', content: { operation: 'reaction', messageId: 'tg-777', emoji: 'thumbs_up' } });
    expect(edit).toMatchObject({ platformId: 'fam', content: { operation: 'edit', messageId: 'pm-1', text: 'done' } });
  });
});

describe('session folder contract: Switchyard\'s host with its own runner (process runtime, echo agent)', () => {
  let world: Awaited<ReturnType<typeof openWorld>>;
  const pollMs = process.env.SWITCHYARD_RUNNER_POLL_MS;
  beforeAll(() => {
    process.env.SWITCHYARD_RUNNER_POLL_MS = '50';
  });
  afterAll(() => {
    if (pollMs === undefined) delete process.env.SWITCHYARD_RUNNER_POLL_MS;
    else process.env.SWITCHYARD_RUNNER_POLL_MS = pollMs;
  });
  beforeEach(async () => {
    world = await openWorld('process');
  });
  afterEach(() => world.close());

  it('round trip: even seqs from the host, odd from the runner, the ack copied across, the outcome in `delivered`, the destinations file in grant order', async () => {
    const session = await world.openSession('m-1', 'hello Andy');
    const [answer] = await world.platform.waitFor(1);
    expect(answer).toEqual(expect.objectContaining({ platformId: 'fam', content: { text: 'echo: hello Andy' } }));
    const [message] = rowsIn(session.inbound);
    await waitUntil(() => rowsIn(session.inbound)[0]!.status === 'completed', 'the completed verdict copied into messages_in');

    expect(readDb(session.inbound, (db) => db.pragma('journal_mode', { simple: true }))).toBe('delete');
    expect(readDb(session.outbound, (db) => db.pragma('journal_mode', { simple: true }))).toBe('delete');
    expect(message!.seq % 2).toBe(0);
    const out = readDb(session.outbound, (db) => db.prepare('SELECT id, seq, in_reply_to FROM messages_out ORDER BY seq').all() as { id: string; seq: number; in_reply_to: string }[]);
    expect(out).toEqual([expect.objectContaining({ in_reply_to: message!.id })]);
    expect(out[0]!.seq % 2).toBe(1);
    expect(readDb(session.outbound, (db) => db.prepare('SELECT message_id, status, status_changed FROM processing_ack').all())).toEqual([
      { message_id: message!.id, status: 'completed', status_changed: expect.stringMatching(SESSION_TIME) },
    ]);
    expect(readDb(session.outbound, (db) => db.prepare('SELECT timestamp FROM messages_out').pluck().get())).toMatch(SESSION_TIME);
    await waitUntil(() => readDb(session.inbound, (db) => db.prepare('SELECT 1 FROM delivered').get()) !== undefined, 'the delivered row');
    expect(readDb(session.inbound, (db) => db.prepare('SELECT message_out_id, platform_message_id, status, delivered_at FROM delivered').all())).toEqual([
      { message_out_id: out[0]!.id, platform_message_id: 'pm-1', status: 'delivered', delivered_at: expect.stringMatching(SESSION_TIME) },
    ]);
    // The host's times in inbound.db, in the session databases' form (spec §2).
    expect(readDb(session.inbound, (db) => db.prepare('SELECT timestamp FROM messages_in').pluck().get())).toMatch(SESSION_TIME);

    // Entries in the order they were granted: two names for one chat, the first granted is the one `from=` shows.
    expect(JSON.parse(readFileSync(join(session.dir, DESTINATIONS_FILE), 'utf8'))).toEqual({
      destinations: [
        { name: 'family', displayName: 'Family', type: 'channel', channelType: 'webhook', platformId: 'fam' },
        { name: 'alpha', displayName: 'Family', type: 'channel', channelType: 'webhook', platformId: 'fam' },
        { name: 'bob', displayName: 'Bob', type: 'agent', agentGroupId: 'ag-bob' },
      ],
    });

    // The second message takes the next even seq; the answer the next odd one.
    await postInbound(world.channel.url(), { platformId: 'fam', messageId: 'm-2', content: { text: 'again' } });
    await world.platform.waitFor(2);
    expect(rowsIn(session.inbound).map((r) => r.seq)).toEqual([message!.seq, message!.seq + 2]);
    const seqsOut = readDb(session.outbound, (db) => db.prepare('SELECT seq FROM messages_out ORDER BY seq').pluck().all() as number[]);
    expect(seqsOut.every((seq) => seq % 2 === 1)).toBe(true);
    expect(seqsOut).toHaveLength(2);
  });

  it('the runner answers a task the host wrote as due, and the host re-arms it in the reference form', async () => {
    const session = await world.openSession('m-1', 'hello');
    await world.platform.waitFor(1);
    world.run(ScheduleTask.envelope('op-every', { sessionId: session.sessionId, prompt: 'tick', recurrence: '* * * * * *' }));
    const ticks = await world.platform.waitFor(3, 15_000);
    expect(ticks.slice(1, 3).map((d) => d.content)).toEqual([{ text: 'echo: tick' }, { text: 'echo: tick' }]);
    for (const row of rowsIn(session.inbound).filter((r) => r.kind === 'task')) expect(row.process_after).toMatch(SESSION_TIME);
  });
});
