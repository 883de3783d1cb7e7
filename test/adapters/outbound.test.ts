import { readdirSync, readlinkSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { receiveInbound } from '../../src/commands/inbound';
import { routeOutbound } from '../../src/commands/outbound';
import { AddDestination } from '../../src/commands/destinations';
import { explainMessage } from '../../src/explain';
import { loadConfig } from '../../src/config';
import type { RecordedEvent } from '../../src/events/define';
import { Host } from '../../src/host';
import { createLogger } from '../../src/logger';
import { OutboundPoller, type OutboundPollerOptions } from '../../src/adapters/outbound-poller';
import { initSessionFolder, sessionDir } from '../../src/adapters/session-db';
import { openDataDir, type Core } from '../../src/core';
import { deliveredRows, writeOutbound } from '../support/container';
import { seedScenario } from '../support/scenario';
import { leaveInterruptedCommit } from '../support/interrupted-commit';
import { useTempDir } from '../support/temp';
import { waitForEvents } from '../support/wait';

const outcomeOf = (outboundId: string) => (event: RecordedEvent) =>
  (event.data as { outboundId?: string }).outboundId === outboundId &&
  (event.type === 'OutboundDropped' || event.type === 'DeliverySucceeded' || (event.type === 'DeliveryFailed' && (event.data as { final: boolean }).final));

const inboundRows = (dir: string) => {
  const db = new Database(join(dir, 'inbound.db'), { readonly: true });
  try {
    return db.prepare('SELECT id, seq, kind, channel_type, platform_id, content FROM messages_in ORDER BY seq').all() as {
      id: string; seq: number; kind: string; channel_type: string | null; platform_id: string | null; content: string;
    }[];
  } finally {
    db.close();
  }
};

describe('outbound routing in a running host (real session folders, no channel configured)', () => {
  const tempDir = useTempDir();
  let host: Host;

  beforeEach(async () => {
    const config = loadConfig({ dataDir: join(tempDir(), 'data') }, { SWITCHYARD_POLL_INTERVAL_MS: '20', SWITCHYARD_DELIVERY_BACKOFF_MS: '1', SWITCHYARD_RUNTIME: 'external' });
    host = await Host.start(config, { channels: [], logger: createLogger('silent') });
    seedScenario(host.core);
    await host.settled();
  });
  afterEach(() => host.stop());

  const andySession = () => host.core.views.sessions.forAgentGroup('ag-andy')[0]!;
  const andyDir = () => sessionDir(join(tempDir(), 'data'), 'ag-andy', andySession().id);

  it('re-checks every row on the host: dropped with its reason, failed without an adapter, recorded in delivered', async () => {
    writeOutbound(andyDir(), [
      { id: 'r-revoked', channelType: 'agent', platformId: 'ag-research', content: { text: 'research this' } },
      { id: 'r-family', channelType: 'telegram', platformId: '-1001', content: { text: 'dinner at 7' } },
      { id: 'r-unknown', channelType: 'telegram', platformId: '-999', content: { text: 'hello?' } },
      { id: 'r-system', kind: 'system', content: { action: 'launch_rockets' } },
    ]);
    const events = await Promise.all(['r-revoked', 'r-family', 'r-unknown', 'r-system'].map((id) => waitForEvents(host.core.store, outcomeOf(id))));
    expect(events.map(([e]) => [e!.type, (e!.data as { reason?: string; errorClass?: string }).reason ?? (e!.data as { errorClass?: string }).errorClass])).toEqual([
      ['OutboundDropped', 'not-permitted'],
      ['DeliveryFailed', 'NoChannelAdapter'],
      ['OutboundDropped', 'unknown-destination'],
      ['OutboundDropped', 'unknown-action'],
    ]);
    await host.settled();
    expect(deliveredRows(andyDir())).toEqual({
      'r-revoked': { status: 'dropped', platform_message_id: null },
      'r-family': { status: 'failed', platform_message_id: null },
      'r-unknown': { status: 'dropped', platform_message_id: null },
      'r-system': { status: 'dropped', platform_message_id: null },
    });
    // The sender is told of the final failure, as a system chat message in its session.
    expect(inboundRows(andyDir()).find((row) => row.id === 'sys-failed-r-family')).toMatchObject({ kind: 'chat', content: expect.stringContaining('NoChannelAdapter') });

    // explain shows the revocation behind the drop, and the ACL at that moment.
    const [explanation] = explainMessage(host.core, 'r-revoked');
    const decision = explanation!.steps.find((step) => step.event.type === 'OutboundDropped')!;
    expect(decision.revokedBy?.destination).toMatchObject({ local_name: 'research-bot', revoked_by: 'operator:alice' });
    expect(decision.revokedBy?.event?.type).toBe('DestinationRemoved');
    expect(decision.aclAtDecision!.map((d) => d.local_name)).toEqual(['family']);
    expect(host.core.views.audit.find('r-family')[0]).toMatchObject({ outcome: 'failed', attempts: 1 });

    // The decider re-run on the recorded row gives the recorded answer against the ACL of
    // its moment; once the route is granted again, today's answer differs.
    expect(decision.rejudged).toEqual({ recorded: 'dropped: not-permitted', asOfDecision: 'dropped: not-permitted', reproduced: true, today: 'dropped: not-permitted', differsToday: false });
    host.core.bus.dispatch(AddDestination.envelope('grant-again', { agentGroupId: 'ag-andy', localName: 'research', targetType: 'agent', targetId: 'ag-research' }));
    const later = explainMessage(host.core, 'r-revoked')[0]!.steps.find((step) => step.event.type === 'OutboundDropped')!;
    expect(later.rejudged).toMatchObject({ reproduced: true, today: 'routed by "research"', differsToday: true });
  });

  it('delivers agent to agent into the target’s session under the sender’s id, and a reply returns to the conversation', async () => {
    host.core.bus.dispatch(AddDestination.envelope('grant-again', { agentGroupId: 'ag-andy', localName: 'research', targetType: 'agent', targetId: 'ag-research' }));
    writeOutbound(andyDir(), [{ id: 'ask-1', channelType: 'agent', platformId: 'ag-research', content: { text: 'find sources' } }]);
    const [delivered] = await waitForEvents(host.core.store, (e) => e.type === 'AgentMessageDelivered');
    const { targetSessionId, messageId } = delivered!.data as { targetSessionId: string; messageId: string };
    await host.settled();
    const researchDir = sessionDir(join(tempDir(), 'data'), 'ag-research', targetSessionId);
    expect(inboundRows(researchDir)).toEqual([
      { id: messageId, seq: 2, kind: 'chat', channel_type: 'agent', platform_id: 'ag-andy', content: JSON.stringify({ text: 'find sources' }) },
    ]);
    expect(deliveredRows(andyDir())['ask-1']).toEqual({ status: 'delivered', platform_message_id: messageId });

    writeOutbound(researchDir, [{ id: 'answer-1', channelType: 'agent', platformId: 'ag-andy', inReplyTo: messageId, content: { text: '3 sources' } }]);
    const [reply] = await waitForEvents(host.core.store, (e) => e.type === 'AgentMessageDelivered' && (e.data as { outboundId: string }).outboundId === 'answer-1');
    expect(reply!.data).toMatchObject({ targetSessionId: andySession().id, sourceSessionId: targetSessionId, inReplyTo: messageId });
  });
});

describe('the outbound poller decides every row the container writes, once (real session folders, ticks driven by the test)', () => {
  const tempDir = useTempDir();
  let core: Core;
  let dir: string;
  let now: Date;
  let sessionId: string;
  const dataDir = () => join(tempDir(), 'data');
  const poller = (options: OutboundPollerOptions = {}) => new OutboundPoller(core, dataDir(), { clock: () => now, ...options });

  beforeEach(() => {
    core = openDataDir(dataDir());
    seedScenario(core);
    sessionId = core.views.sessions.forAgentGroup('ag-andy')[0]!.id;
    dir = sessionDir(dataDir(), 'ag-andy', sessionId);
    initSessionFolder(dir);
    now = new Date('2026-11-24T12:00:00.000Z');
  });
  afterEach(() => core.close());

  /** Rows as a hostile container may write them: any value in any column, columns in schema order. */
  const insertRows = (...rows: unknown[][]) => {
    const db = new Database(join(dir, 'outbound.db'));
    try {
      const insert = db.prepare('INSERT INTO messages_out (id, seq, deliver_after, kind, platform_id, channel_type, content, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
      db.transaction(() => rows.forEach((values) => insert.run(...values)))();
    } finally {
      db.close();
    }
  };
  const chat = (id: unknown, seq: unknown, extra: { deliverAfter?: string; content?: string } = {}) =>
    [id, seq, extra.deliverAfter ?? null, 'chat', '-1001', 'telegram', extra.content ?? JSON.stringify({ text: `hi from ${String(id)}` }), '2026-11-24 12:00:00'];
  const decisions = () =>
    [...core.store.readAll()]
      .filter((e) => e.type === 'OutboundRouted' || e.type === 'OutboundDropped')
      .map((e) => {
        const data = e.data as { outboundId: string; reason?: string; explanation?: string };
        return { outboundId: data.outboundId, outcome: data.reason ?? 'routed', explanation: data.explanation ?? null };
      });
  const outcomes = () => Object.fromEntries(decisions().map((d) => [d.outboundId, d.outcome]));

  /** outbound.db files this process holds open, read from the kernel's own table of its descriptors. */
  const openOutboundFiles = () =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).endsWith('/outbound.db');
      } catch {
        return false; // closed since the listing
      }
    }).length;

  it('gives back the handle of a session whose outbound.db stays unchanged, and reopens it for the next row', () => {
    const poll = poller({ idleHandleMs: 60_000, watch: false });
    insertRows(chat('first', 1));
    poll.tick();
    expect(openOutboundFiles()).toBe(1);

    // Written long enough ago for its size and times to tell that nothing changed since.
    const longAgo = new Date(Date.now() - 3_600_000);
    utimesSync(join(dir, 'outbound.db'), longAgo, longAgo);
    poll.tick();
    now = new Date(now.getTime() + 61_000);
    poll.tick();
    expect(openOutboundFiles()).toBe(0);

    insertRows(chat('second', 3));
    poll.tick();
    expect(outcomes()).toEqual({ first: 'routed', second: 'routed' });
    expect(openOutboundFiles()).toBe(1);
    poll.stop();
    expect(openOutboundFiles()).toBe(0);
  });

  /** Makes outbound.db look written long ago, so its size and times alone tell whether it changed since. */
  const settle = (folder = dir) => {
    const longAgo = new Date(Date.now() - 3_600_000);
    utimesSync(join(folder, 'outbound.db'), longAgo, longAgo);
  };

  it('leaves an idle session whose folder watch is live to its watch, yet still reads a row the watch missed once its backed-off poll comes', () => {
    const poll = poller({ intervalMs: 250, idlePollMaxMs: 2_000 });
    insertRows(chat('first', 1));
    poll.tick(); // read, and its folder watched from now on
    settle();
    poll.tick(); // the file is seen as it is
    poll.tick(); // unchanged: its next timed read is put off

    // The watch's event only ever arrives on a later turn of the event loop, which these
    // synchronous ticks never give it: as far as the poller knows, the watch missed it.
    insertRows(chat('missed', 3));
    settle();
    for (let i = 0; i < 5; i++) poll.tick();
    expect(outcomes()).toEqual({ first: 'routed' });

    now = new Date(now.getTime() + 2_000);
    poll.tick();
    expect(outcomes()).toEqual({ first: 'routed', missed: 'routed' });
    poll.stop();
  });

  it('given a session whose folder it watches, when messages are routed into it, then the poller adds no transaction of its own: one commit per message', async () => {
    const poll = poller({ intervalMs: 60_000 });
    insertRows(chat('first', 1));
    poll.start(); // reads the session, and watches its folder from now on
    const before = core.store.committedTransactions();

    for (let i = 0; i < 5; i++) {
      core.bus.dispatch(receiveInbound({ channelType: 'telegram', platformId: '-1001', messageId: `more-${i}`, content: { text: `@Andy more ${i}` }, timestamp: now.toISOString() }));
      await new Promise((resolve) => setImmediate(resolve));
    }

    expect(core.store.committedTransactions() - before).toBe(5);
    expect(core.views.audit.inboundRow(sessionId, core.views.audit.find('more-4')[0]!.message_id)?.outcome).toBe('routed');
    poll.stop();
  });

  /**
   * Every session's folder with a row read (the poller started, no tick for a minute: each
   * session is watched from then on) and a row `next-<i>` written after it, not read yet.
   */
  const watchedSessionsWithNewRows = () => {
    const folders = core.views.sessions.list().map((session) => sessionDir(dataDir(), session.agent_group_id, session.id));
    folders.forEach((folder, i) => {
      initSessionFolder(folder);
      writeOutbound(folder, [{ id: `first-${i}`, channelType: 'telegram', platformId: '-1001', content: { text: `first ${i}` } }]);
    });
    const poll = poller({ intervalMs: 60_000 });
    poll.start();
    folders.forEach((folder, i) => writeOutbound(folder, [{ id: `next-${i}`, channelType: 'telegram', platformId: '-1001', content: { text: `next ${i}` } }]));
    return { folders, poll };
  };

  it('given an agent holding its outbound.db locked, when a pass meets the lock, then it does not wait on it: the other sessions are decided, and the locked one is read again soon after, with no tick', async () => {
    const { folders, poll } = watchedSessionsWithNewRows();
    const agent = new Database(join(folders[0]!, 'outbound.db'));
    agent.exec('BEGIN EXCLUSIVE');
    const locked = agent.prepare('SELECT count(*) FROM messages_out').pluck().get();
    try {
      poll.tick();
      const decided = () => decisions().map((d) => d.outboundId).filter((id) => id.startsWith('next-'));
      expect(decided().sort()).toEqual(folders.slice(1).map((_, i) => `next-${i + 1}`).sort());
      expect(locked).toBe(2);
      agent.exec('COMMIT');
      // No tick from here on (the next is a minute away): the pass that met the lock asked for another read.
      await waitForEvents(core.store, (event) => event.type === 'OutboundRouted' && (event.data as { outboundId: string }).outboundId === 'next-0');
      expect(decided().sort()).toEqual(folders.map((_, i) => `next-${i}`).sort());
    } finally {
      agent.close();
      poll.stop();
    }
  });

  it('given an agent killed in the middle of a commit to outbound.db, when a pass meets it, then the session is not quarantined, and what the agent had committed is read once the next agent rolls the unfinished commit back', async () => {
    const { folders, poll } = watchedSessionsWithNewRows();
    leaveInterruptedCommit(join(folders[0]!, 'outbound.db'));
    try {
      poll.tick();
      const decided = () => decisions().map((d) => d.outboundId).filter((id) => id.startsWith('next-'));
      expect(decided().sort()).toEqual(folders.slice(1).map((_, i) => `next-${i + 1}`).sort());
      expect(core.views.sessions.list()[0]!.status).toBe('active');
      // The next agent's first read rolls the commit back; no tick from here on (the next is a minute away).
      const agent = new Database(join(folders[0]!, 'outbound.db'));
      agent.prepare('SELECT count(*) FROM messages_out').get();
      agent.close();
      await waitForEvents(core.store, (event) => event.type === 'OutboundRouted' && (event.data as { outboundId: string }).outboundId === 'next-0');
      expect(decisions().map((d) => d.outboundId).filter((id) => id.startsWith('unfinished-'))).toEqual([]);
    } finally {
      poll.stop();
    }
  });

  it('reads a session without a folder watch at every tick, as before', () => {
    const poll = poller({ intervalMs: 250, idlePollMaxMs: 2_000, watch: false });
    insertRows(chat('first', 1));
    poll.tick();
    settle();
    poll.tick();
    poll.tick();
    insertRows(chat('next', 3));
    settle();
    poll.tick();
    expect(outcomes()).toEqual({ first: 'routed', next: 'routed' });
    poll.stop();
  });

  it('keeps no more outbound.db handles open than its cap, closing the least recently read, and still decides every session’s rows', () => {
    const folders = core.views.sessions.list().map((session) => sessionDir(dataDir(), session.agent_group_id, session.id));
    expect(folders.length).toBeGreaterThan(2);
    const poll = poller({ maxOpenHandles: 2, watch: false });
    folders.forEach((folder, i) => {
      initSessionFolder(folder);
      writeOutbound(folder, [{ id: `row-${i}`, channelType: 'telegram', platformId: '-1001', content: { text: `from session ${i}` } }]);
    });
    poll.tick();
    expect(openOutboundFiles()).toBe(2);
    expect(decisions().map((d) => d.outboundId).sort()).toEqual(folders.map((_, i) => `row-${i}`).sort());
    poll.stop();
    expect(openOutboundFiles()).toBe(0);
  });

  it('given rows in several sessions, when one pass reads them, then all are decided in one transaction; a session whose folder is tampered with costs only its own rows', () => {
    const folders = core.views.sessions.list().map((session) => sessionDir(dataDir(), session.agent_group_id, session.id));
    expect(folders.length).toBeGreaterThan(2);
    const poll = poller({ watch: false });
    folders.forEach((folder, i) => {
      initSessionFolder(folder);
      writeOutbound(folder, [{ id: `row-${i}`, channelType: 'telegram', platformId: '-1001', content: { text: `from session ${i}` } }]);
    });
    const before = core.store.committedTransactions();
    poll.tick();
    expect(core.store.committedTransactions() - before).toBe(1);
    expect(decisions().map((d) => d.outboundId).sort()).toEqual(folders.map((_, i) => `row-${i}`).sort());

    folders.forEach((folder, i) => writeOutbound(folder, [{ id: `again-${i}`, channelType: 'telegram', platformId: '-1001', content: { text: `again ${i}` } }]));
    rmSync(join(folders[0]!, 'outbound.db'));
    symlinkSync(join(folders[1]!, 'outbound.db'), join(folders[0]!, 'outbound.db'));
    poll.tick();
    const again = decisions().map((d) => d.outboundId).filter((id) => id.startsWith('again-'));
    expect(again.sort()).toEqual(folders.slice(1).map((_, i) => `again-${i + 1}`).sort());
    poll.stop();
  });

  it('decides a row written later with a seq below the checkpoint, and NULL, text, fractional, negative and host-parity seqs, each once', () => {
    const poll = poller();
    insertRows(chat('first', 9));
    poll.tick();
    insertRows(chat('lower', 3), chat('null-seq', null), chat('text-seq', 'abc'), chat('real-seq', 2.5), chat('negative', -5), chat('even', 12));
    poll.tick();
    poll.tick();
    expect(outcomes()).toEqual({
      first: 'routed',
      lower: 'routed',
      'null-seq': 'malformed-row',
      'text-seq': 'malformed-row',
      'real-seq': 'malformed-row',
      negative: 'malformed-row',
      even: 'routed',
    });
    expect(decisions().find((d) => d.outboundId === 'text-seq')!.explanation).toMatch(/seq is text "abc"/);
    // Once each, also for a poller that starts afresh (a restart) on the same log.
    poller().tick();
    expect(decisions()).toHaveLength(7);
  });

  it('decides rows whose ids cannot name them by their rowid, without stopping the rows after them', () => {
    const db = new Database(join(dir, 'outbound.db'));
    db.exec(`INSERT INTO messages_out (id, seq, kind, timestamp, content) VALUES
      (NULL, 1, 'chat', 'x', '{}'), (NULL, 3, 'chat', 'x', '{}'), (x'61', 5, 'chat', 'x', '{}'),
      ('bell' || char(7), 7, 'chat', 'x', '{}'), (printf('%.*c', 1000000, 'i'), 9, 'chat', 'x', '{}')`);
    db.close();
    insertRows(chat('after', 11));
    poller().tick();
    const byId = decisions();
    expect(byId.map((d) => [d.outboundId, d.outcome])).toEqual([
      ['rowid:1', 'malformed-row'], ['rowid:2', 'malformed-row'], ['rowid:3', 'malformed-row'], ['rowid:4', 'malformed-row'], ['rowid:5', 'malformed-row'],
      ['after', 'routed'],
    ]);
    expect(byId.map((d) => d.explanation).slice(0, 5)).toEqual([
      expect.stringMatching(/no id \(NULL\)/), expect.stringMatching(/no id \(NULL\)/), expect.stringMatching(/id is a blob/),
      expect.stringMatching(/control character/), expect.stringMatching(/id is 1000000 bytes/),
    ]);
    // The evidence of the million-character id is a prefix of it, not the id.
    const recorded = [...core.store.readAll()].find((e) => e.type === 'OutboundDropped' && (e.data as { outboundId: string }).outboundId === 'rowid:5')!;
    expect(JSON.stringify(recorded.data).length).toBeLessThan(2_000);
  });

  it('drops a 10 MB row as too-large, recording its size and not its content, and routes the next one', () => {
    const content = JSON.stringify({ text: 'a'.repeat(10 * 1024 * 1024) });
    insertRows(chat('huge', 1, { content }), chat('small', 3));
    poller().tick();
    expect(outcomes()).toEqual({ huge: 'too-large', small: 'routed' });
    const recorded = [...core.store.readAll()].find((e) => e.type === 'OutboundDropped')!;
    expect((recorded.data as { explanation: string }).explanation).toBe(`content is ${content.length} bytes; the cap is 65536`);
    expect(JSON.stringify(recorded.data).length).toBeLessThan(2_000);
  });

  it('routes 60 rows of one tick and drops the rest as rate-limited, telling the agent once and logging each', () => {
    insertRows(...Array.from({ length: 65 }, (_, i) => chat(`flood-${i}`, 2 * i + 1)));
    const logged: string[] = [];
    poller({ logger: pino({ level: 'warn' }, { write: (line: string) => logged.push(line) }) }).tick();
    expect(logged.map((line) => JSON.parse(line) as { event: string; reason: string }).filter((l) => l.event === 'OutboundLimitHit').map((l) => l.reason)).toEqual(Array(5).fill('rate-limited'));
    const counts = decisions().reduce<Record<string, number>>((c, d) => ({ ...c, [d.outcome]: (c[d.outcome] ?? 0) + 1 }), {});
    expect(counts).toEqual({ routed: 60, 'rate-limited': 5 });
    expect([...core.store.readAll({ type: 'AgentNotified' })].map((e) => e.data)).toEqual([expect.objectContaining({ sessionId, details: { outboundId: 'flood-60', reason: 'rate-limited' } })]);
  });

  it('holds a deferred row until it is due without holding back the rows behind it, past a batch and a restart', () => {
    const batch = { batchSize: 2 };
    insertRows(chat('later', 1, { deliverAfter: '2026-11-24 13:00:00' }), chat('b', 3), chat('c', 5), chat('d', 7), chat('e', 9), chat('never', 11, { deliverAfter: '9999-12-31 00:00:00' }));
    const poll = poller(batch);
    for (let i = 0; i < 4; i++) poll.tick();
    expect(outcomes()).toEqual({ b: 'routed', c: 'routed', d: 'routed', e: 'routed', never: 'malformed-row' });

    // A restart before it is due, then the time comes.
    const restarted = poller(batch);
    restarted.tick();
    expect(decisions()).toHaveLength(5);
    now = new Date('2026-11-24T13:00:00.000Z');
    restarted.tick();
    restarted.tick();
    expect(outcomes()).toMatchObject({ later: 'routed' });
    expect(decisions()).toHaveLength(6);
  });

  it('re-reads a waiting row when it falls due: the container may put it off again, or withdraw it', () => {
    insertRows(chat('put-off', 1, { deliverAfter: '2026-11-24T12:30:00Z' }), chat('withdrawn', 3, { deliverAfter: '2026-11-24T12:30:00Z' }));
    const poll = poller();
    poll.tick();
    const db = new Database(join(dir, 'outbound.db'));
    db.exec(`UPDATE messages_out SET deliver_after = '2026-11-24 14:00:00' WHERE id = 'put-off'; DELETE FROM messages_out WHERE id = 'withdrawn'`);
    db.close();
    now = new Date('2026-11-24T13:00:00.000Z');
    poll.tick();
    expect(decisions()).toEqual([]);
    now = new Date('2026-11-24T14:00:00.000Z');
    poll.tick();
    expect(outcomes()).toEqual({ 'put-off': 'routed' });
  });

  it('takes over from a host that read by seq: the rows it decided come back with the same command, and are not decided again', () => {
    insertRows(chat('decided-before', 1), chat('missed-before', null));
    // What the previous poller dispatched for the row it could read.
    const before = { id: 'decided-before', seq: 1, in_reply_to: null, timestamp: '2026-11-24 12:00:00', deliver_after: null, recurrence: null, kind: 'chat', platform_id: '-1001', channel_type: 'telegram', thread_id: null, content: JSON.stringify({ text: 'hi from decided-before' }) };
    core.bus.dispatch(routeOutbound({ sessionId, row: before }));
    const logged: string[] = [];
    poller({ logger: pino({ level: 'warn' }, { write: (line: string) => logged.push(line) }) }).tick();
    expect(outcomes()).toEqual({ 'decided-before': 'routed', 'missed-before': 'malformed-row' });
    expect(decisions()).toHaveLength(2);
    expect(logged).toEqual([]);
  });

  it('explain re-judges a malformed row to the verdict it recorded', () => {
    insertRows(chat('text-seq', 'abc'));
    poller().tick();
    const step = explainMessage(core, 'text-seq')[0]!.steps.find((s) => s.event.type === 'OutboundDropped')!;
    expect(step.rejudged).toMatchObject({ recorded: 'dropped: malformed-row', reproduced: true, differsToday: false });
  });
});
