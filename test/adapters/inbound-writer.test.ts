import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { WorkerInboundWriter } from '../../src/adapters/inbound-writer';
import { initSessionFolder, openInboundDb, sessionDir } from '../../src/adapters/session-db';
import { classifySessionFailure } from '../../src/adapters/session-guard';
import { openDataDir } from '../../src/core';
import type { RecordedEvent } from '../../src/events/define';
import { packageRoot } from '../../src/db/package-root';
import { seedScenario } from '../support/scenario';
import { useTempDir } from '../support/temp';

/** The compiled worker the host runs (npm test builds first). */
const WORKER = join(packageRoot(__dirname), 'dist', 'src', 'adapters', 'inbound-writer-worker.js');

describe('the inbound.db writer thread', () => {
  const tempDir = useTempDir();
  let writer: WorkerInboundWriter;
  let dir: string;
  let routed: RecordedEvent[];

  beforeEach(() => {
    const dataDir = join(tempDir(), 'data');
    const core = openDataDir(dataDir);
    try {
      seedScenario(core);
      routed = [...core.store.readAll({ type: 'InboundRouted' })];
      const session = core.views.sessions.get((routed[0]!.data as { sessionId: string }).sessionId)!;
      dir = sessionDir(dataDir, session.agent_group_id, session.id);
    } finally {
      core.close();
    }
    initSessionFolder(dir);
    writer = WorkerInboundWriter.start(WORKER);
  });
  afterEach(() => writer.close());

  const rowIds = () => {
    const db = openInboundDb(dir);
    try {
      return db.prepare('SELECT id FROM messages_in ORDER BY seq').pluck().all();
    } finally {
      db.close();
    }
  };

  it("given the agent holds inbound.db locked, when the host writes and lets go of the lock on its next turn, then the write waits in the writer's thread and lands", async () => {
    // On the host's own thread the write would wait out busy_timeout right there: the turn
    // that lets go of the lock could not come, and the write would fail as busy.
    const agent = new Database(join(dir, 'inbound.db'));
    agent.exec('BEGIN EXCLUSIVE');
    const written = writer.write(dir, routed);
    setImmediate(() => agent.exec('COMMIT'));
    await expect(written).resolves.toBeUndefined();
    agent.close();
    expect(rowIds()).toEqual(routed.map((event) => (event.data as { messageId: string }).messageId));
  });

  it('given the same events twice, writes each row once', async () => {
    await writer.write(dir, routed);
    await writer.write(dir, routed);
    expect(rowIds()).toHaveLength(routed.length);
  });

  it("a failure comes back across the thread as the guard must judge it: a planted link as tampering, the agent's lock as busy", async () => {
    const agent = new Database(join(dir, 'inbound.db'));
    agent.exec('BEGIN EXCLUSIVE');
    const busy = await writer.write(dir, routed).catch((error: unknown) => error);
    agent.exec('COMMIT');
    agent.close();
    expect(busy).toMatchObject({ code: expect.stringMatching(/^SQLITE_BUSY/) });
    expect(classifySessionFailure(busy)).toBe('busy');

    rmSync(join(dir, 'inbound.db'));
    writeFileSync(join(tempDir(), 'elsewhere.db'), '');
    symlinkSync(join(tempDir(), 'elsewhere.db'), join(dir, 'inbound.db'));
    const tampered = await writer.write(dir, routed).catch((error: unknown) => error);
    expect(classifySessionFailure(tampered)).toBe('tampered');
  });

  it('after close, a write is refused rather than left waiting', async () => {
    await writer.close();
    await expect(writer.write(dir, routed)).rejects.toThrow(/closed/);
  });
});
