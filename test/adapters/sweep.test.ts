import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ExternalRuntime } from '../../src/adapters/containers/external';
import { ContainerLifecycle } from '../../src/adapters/containers/lifecycle';
import { Sweep } from '../../src/adapters/containers/sweep';
import { initSessionFolder, nextEvenSeq, openInboundDb, sessionDir } from '../../src/adapters/session-db';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { RecordContainerExit, RecordContainerStarted } from '../../src/commands/containers';
import { receiveInbound } from '../../src/commands/inbound';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { openDataDir, type Core } from '../../src/core';
import { useTempDir } from '../support/temp';

const MINUTE = 60_000;

/** The sweep over real session folders, with the clock in the test's hands. */
describe('sweep', () => {
  const tempDir = useTempDir();
  let core: Core;
  let now: number;
  let sweep: Sweep;
  let lifecycle: ContainerLifecycle;
  let sessionId: string;
  const dataDir = () => join(tempDir(), 'data');
  const dir = () => sessionDir(dataDir(), 'ag-andy', sessionId);
  const container = () => core.views.containers.get(sessionId)!;
  const events = (type: string) => [...core.store.readAll({ type })].map((e) => e.data as Record<string, unknown>);

  /** A container for the session, started now (by the test's clock). */
  const startContainer = () => {
    lifecycle.wake(sessionId, 'test');
    const { incarnation_id: incarnationId } = container();
    core.bus.dispatch(RecordContainerStarted.envelope(`started:${incarnationId}`, { sessionId, incarnationId, runtimeId: 'rt' }, { issuedAt: new Date(now).toISOString() }));
    return incarnationId;
  };
  const insertMessage = (id: string, processAfter: string | null = null) => {
    const db = openInboundDb(dir());
    db.prepare(`INSERT INTO messages_in (id, seq, kind, timestamp, status, process_after, content) VALUES (?, ?, 'chat', ?, 'pending', ?, '{}')`).run(id, nextEvenSeq(db), new Date(now).toISOString(), processAfter);
    db.close();
  };
  const ack = (id: string, status: string) => {
    const db = new Database(join(dir(), 'outbound.db'));
    db.prepare('INSERT OR REPLACE INTO processing_ack VALUES (?, ?, ?)').run(id, status, new Date(now).toISOString());
    db.close();
  };
  const inbound = (id: string) => {
    const db = new Database(join(dir(), 'inbound.db'), { readonly: true });
    try {
      return db.prepare('SELECT status, tries, process_after FROM messages_in WHERE id = ?').get(id) as { status: string; tries: number; process_after: string | null };
    } finally {
      db.close();
    }
  };
  const heartbeat = (at: number) => {
    writeFileSync(join(dir(), '.heartbeat'), '');
    utimesSync(join(dir(), '.heartbeat'), new Date(at), new Date(at));
  };

  beforeEach(() => {
    now = Date.parse('2026-11-25T10:00:00Z');
    core = openDataDir(dataDir(), { clock: () => new Date(now) });
    core.bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
    core.bus.dispatch(RegisterMessagingGroup.envelope('mg', { messagingGroupId: 'mg-family', channelType: 'webhook', platformId: 'fam' }));
    core.bus.dispatch(WireChannel.envelope('wire', { messagingGroupId: 'mg-family', agentGroupId: 'ag-andy' }));
    core.bus.dispatch(receiveInbound({ channelType: 'webhook', platformId: 'fam', messageId: '1', content: { text: 'hi' }, timestamp: new Date(now).toISOString() }));
    sessionId = core.views.sessions.list()[0]!.id;
    initSessionFolder(dir());
    lifecycle = new ContainerLifecycle(core, { dataDir: dataDir(), installId: 'test', runtime: new ExternalRuntime(), defaultImage: 'img', agentEnv: {}, liveFrom: Infinity });
    sweep = new Sweep(core, lifecycle, { dataDir: dataDir(), intervalMs: 1000, idleTimeoutMs: 30 * MINUTE, heartbeatTimeoutMs: 10 * MINUTE, maxRuntimeMs: 240 * MINUTE, clock: () => new Date(now) });
  });
  afterEach(() => core.close());

  it('wakes a session with due work and no container, but not for work that is not due yet', () => {
    insertMessage('later', new Date(now + MINUTE).toISOString());
    expect(sweep.run().woken).toEqual([]);
    now += 2 * MINUTE;
    expect(sweep.run().woken).toEqual([sessionId]);
    expect(container().woken_by).toBe('sweep: due messages');
    expect(sweep.run().woken).toEqual([]);
  });

  it('copies the agent’s terminal states into messages_in', () => {
    insertMessage('a');
    insertMessage('b');
    startContainer();
    ack('a', 'completed');
    ack('b', 'failed');
    sweep.run();
    expect([inbound('a').status, inbound('b').status]).toEqual(['completed', 'failed']);
  });

  it('stops a container whose heartbeat is lost, with the evidence, and retries its stuck message with backoff', () => {
    const incarnationId = startContainer();
    insertMessage('stuck');
    ack('stuck', 'processing');
    heartbeat(now);
    now += 11 * MINUTE;
    expect(sweep.run()).toEqual(expect.objectContaining({ stopped: [{ sessionId, reason: 'heartbeat-lost' }], retried: ['stuck'] }));
    expect(events('ContainerStopRequested')).toEqual([
      expect.objectContaining({ incarnationId, reason: 'heartbeat-lost', evidence: expect.objectContaining({ stuck: ['stuck'], silentMs: 11 * MINUTE }) }),
    ]);
    expect(inbound('stuck')).toEqual({ status: 'pending', tries: 1, process_after: new Date(now + 5000).toISOString() });
  });

  it('never stops a fresh incarnation for the previous one’s stale heartbeat', () => {
    const first = startContainer();
    heartbeat(now);
    now += 20 * MINUTE;
    core.bus.dispatch(RecordContainerExit.envelope(`exit:${first}`, { sessionId, incarnationId: first, exitCode: 1, signal: null }));
    startContainer();
    // The heartbeat file is 20 minutes old, but this incarnation started just now.
    expect(sweep.run().stopped).toEqual([]);
    now += 11 * MINUTE;
    expect(sweep.run().stopped).toEqual([{ sessionId, reason: 'heartbeat-lost' }]);
  });

  it('marks an agent with no work idle, and stops it after the idle timeout', () => {
    startContainer();
    now += MINUTE;
    heartbeat(now);
    expect(sweep.run().stopped).toEqual([]);
    expect(container().status).toBe('idle');
    now += 31 * MINUTE;
    heartbeat(now);
    expect(sweep.run().stopped).toEqual([{ sessionId, reason: 'idle-timeout' }]);
  });

  it('retries claims an agent that is gone left behind, and fails a message after 5 tries', () => {
    insertMessage('orphan');
    ack('orphan', 'processing');
    for (let attempt = 1; attempt <= 4; attempt++) {
      expect(sweep.run().retried).toEqual(['orphan']);
      expect(inbound('orphan').tries).toBe(attempt);
    }
    expect(sweep.run().failed).toEqual(['orphan']);
    expect(inbound('orphan').status).toBe('failed');
  });

  it('stops a container that ran past the ceiling, however busy', () => {
    startContainer();
    insertMessage('busy');
    ack('busy', 'processing');
    now += 241 * MINUTE;
    heartbeat(now);
    expect(sweep.run().stopped).toEqual([{ sessionId, reason: 'runtime-ceiling' }]);
  });

  it('routes two wakes of one session into one container, even in one batch', () => {
    const wake = { sessionId, wokenBy: 'race', runtime: 'process' as const, defaultImage: 'img' };
    const results = core.bus.dispatchBatch([
      { type: 'WakeSession', commandId: 'w1', payload: wake },
      { type: 'WakeSession', commandId: 'w2', payload: wake },
    ]);
    expect(results.map((r) => (r.status === 'accepted' ? r.events.map((e) => e.type) : r.status))).toEqual([['ContainerStarting'], []]);
  });
});
