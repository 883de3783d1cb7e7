import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ContainerLifecycle } from '../../src/adapters/containers/lifecycle';
import { DeliveryService } from '../../src/adapters/delivery';
import { DestinationsFileReactor } from '../../src/adapters/destinations-file';
import { OutboundPoller } from '../../src/adapters/outbound-poller';
import { sessionDir } from '../../src/adapters/session-db';
import { SessionFolderReactor } from '../../src/adapters/session-folder';
import { SessionGuard } from '../../src/adapters/session-guard';
import { SessionOwnership } from '../../src/adapters/session-ownership';
import { takeOverSession } from '../../src/adapters/session-takeover';
import { openDataDir, type Core } from '../../src/core';
import { RecordingRuntime } from '../support/recording-runtime';
import { seedScenario } from '../support/scenario';
import { useTempDir } from '../support/temp';

/**
 * A host that has just taken a session's lease (the log on PostgreSQL) writes its folder
 * from the log before it runs anything there. Until then the folder is missing or half
 * written on this host, and the components that read it every few milliseconds must wait
 * for it, not judge it: a missing outbound.db is tampering only in a folder the host wrote.
 */
describe('a session being taken over: its folder is written before anything reads it (real session folders)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  let core: Core;
  let sessionId: string;

  beforeEach(() => {
    core = openDataDir(dataDir());
    seedScenario(core);
    sessionId = core.views.sessions.forAgentGroup('ag-andy')[0]!.id;
  });
  afterEach(() => core.close());

  const quarantines = () => [...core.store.readAll({ type: 'SessionQuarantined' })];

  it('given the lease is held and the folder not yet written, when the poller and the folder writer reach the session, then nothing is quarantined and the writes wait; the takeover writes every message', async () => {
    // The lease is this host's from the start of the test: as after the tick that took it.
    const ownership = new SessionOwnership(() => true);
    const guard = new SessionGuard(core, { owns: (id) => ownership.owns(id), takingOver: (id) => ownership.takingOver(id) });
    const poller = new OutboundPoller(core, dataDir(), { guard, watch: false });
    const folders = new SessionFolderReactor(dataDir(), core, { guard });
    const routed = [...core.store.readAll({ type: 'InboundRouted' })].filter((event) => (event.data as { sessionId: string }).sessionId === sessionId);

    poller.tick();
    const waiting = await folders.handleBatch(routed);

    expect(quarantines()).toEqual([]);
    expect(core.views.sessions.get(sessionId)!.status).toBe('active');
    expect(waiting).toEqual(routed);

    const runtime = new RecordingRuntime();
    const containers = new ContainerLifecycle(core, { dataDir: dataDir(), installId: 'test', runtime, defaultImage: 'agent', agentEnv: {}, liveFrom: 0, owns: (id) => ownership.owns(id) });
    const delivery = new DeliveryService(core, dataDir(), new Map(), { guard });
    const destinations = new DestinationsFileReactor(dataDir(), core, { guard });
    await takeOverSession({ folders, destinations, containers, delivery, ownership }, sessionId);

    expect(ownership.owns(sessionId)).toBe(true);
    const dir = sessionDir(dataDir(), 'ag-andy', sessionId);
    expect(existsSync(join(dir, 'outbound.db'))).toBe(true);
    const inbound = new Database(join(dir, 'inbound.db'), { readonly: true });
    try {
      expect(inbound.prepare('SELECT id FROM messages_in ORDER BY seq').pluck().all()).toEqual(routed.map((event) => (event.data as { messageId: string }).messageId));
    } finally {
      inbound.close();
    }
    // Written now, the folder is read like any other: still nothing to quarantine.
    poller.tick();
    poller.stop();
    expect(quarantines()).toEqual([]);
  });

  it('given the lease is another host’s, then the folder is neither written nor waited for here', async () => {
    const ownership = new SessionOwnership(() => false);
    const guard = new SessionGuard(core, { owns: (id) => ownership.owns(id), takingOver: (id) => ownership.takingOver(id) });
    const folders = new SessionFolderReactor(dataDir(), core, { guard });
    const routed = [...core.store.readAll({ type: 'InboundRouted' })].filter((event) => (event.data as { sessionId: string }).sessionId === sessionId);

    expect(await folders.handleBatch(routed)).toEqual([]);
    expect(existsSync(sessionDir(dataDir(), 'ag-andy', sessionId))).toBe(false);
  });
});
