import type Database from 'better-sqlite3';
import { AgentMessageDelivered } from '../events/agent-messages';
import {
  ContainerIdle,
  ContainerStarted,
  ContainerStartFailed,
  ContainerStarting,
  ContainerStopped,
  ContainerStopRequested,
  type RuntimeKind,
  type StopReason,
} from '../events/containers';
import { InboundRouted } from '../events/inbound';
import { defineProjection } from './runner';

export type ContainerStatus = 'starting' | 'running' | 'idle' | 'stopping' | 'stopped' | 'failed';

export interface ContainerRow {
  session_id: string;
  agent_group_id: string;
  incarnation_id: string;
  runtime: RuntimeKind;
  image: string;
  runtime_id: string | null;
  status: ContainerStatus;
  woken_by: string;
  starting_at: string;
  started_at: string | null;
  idle_since: string | null;
  stop_reason: StopReason | null;
  stop_evidence: string | null;
  stopped_at: string | null;
  exit_code: number | null;
  signal: string | null;
  stderr_tail: string | null;
  starts: number;
  updated_position: number;
}

/** The statuses in which a session has (or is getting) a container: a wake starts nothing then. */
export const LIVE_STATUSES: ReadonlySet<ContainerStatus> = new Set(['starting', 'running', 'idle', 'stopping']);

/** Each session's container, as its latest start left it. */
export const containersProjection = defineProjection({
  name: 'containers',
  tables: ['containers'],
  bind(db, on) {
    const starting = db.prepare(
      `INSERT INTO containers (session_id, agent_group_id, incarnation_id, runtime, image, status, woken_by, starting_at, starts, updated_position)
       VALUES (@sessionId, @agentGroupId, @incarnationId, @runtime, @image, 'starting', @wokenBy, @at, 1, @position)
       ON CONFLICT (session_id) DO UPDATE SET
         incarnation_id = excluded.incarnation_id, runtime = excluded.runtime, image = excluded.image, runtime_id = NULL,
         status = 'starting', woken_by = excluded.woken_by, starting_at = excluded.starting_at, started_at = NULL,
         idle_since = NULL, stop_reason = NULL, stop_evidence = NULL, stopped_at = NULL, exit_code = NULL, signal = NULL,
         stderr_tail = NULL, starts = starts + 1, updated_position = excluded.updated_position`,
    );
    // Every update names the incarnation: a late event about an older start changes nothing.
    const where = 'WHERE session_id = @sessionId AND incarnation_id = @incarnationId';
    const started = db.prepare(`UPDATE containers SET status = 'running', runtime_id = @runtimeId, started_at = @at, updated_position = @position ${where}`);
    const failed = db.prepare(`UPDATE containers SET status = 'failed', stderr_tail = @error, stopped_at = @at, updated_position = @position ${where}`);
    const idle = db.prepare(`UPDATE containers SET status = 'idle', idle_since = @lastActivityAt, updated_position = @position ${where} AND status = 'running'`);
    const stopping = db.prepare(
      `UPDATE containers SET status = 'stopping', stop_reason = @reason, stop_evidence = @evidence, updated_position = @position ${where}`,
    );
    const stopped = db.prepare(
      `UPDATE containers SET status = 'stopped', stop_reason = @reason, exit_code = @exitCode, signal = @signal, stderr_tail = @stderrTail,
         stopped_at = @at, updated_position = @position ${where}`,
    );
    const busy = db.prepare(`UPDATE containers SET status = 'running', idle_since = NULL, updated_position = @position WHERE session_id = @sessionId AND status = 'idle'`);

    on(ContainerStarting, (data, event) => starting.run({ ...data, at: event.metadata.recordedAt, position: event.position }));
    on(ContainerStarted, (data, event) => started.run({ ...data, at: event.metadata.recordedAt, position: event.position }));
    on(ContainerStartFailed, (data, event) => failed.run({ sessionId: data.sessionId, incarnationId: data.incarnationId, error: `${data.phase}: ${data.error}`, at: event.metadata.recordedAt, position: event.position }));
    on(ContainerIdle, (data, event) => idle.run({ ...data, position: event.position }));
    on(ContainerStopRequested, (data, event) =>
      stopping.run({ sessionId: data.sessionId, incarnationId: data.incarnationId, reason: data.reason, evidence: JSON.stringify(data.evidence), position: event.position }),
    );
    on(ContainerStopped, (data, event) => stopped.run({ ...data, at: event.metadata.recordedAt, position: event.position }));
    // New work for an idle agent makes it busy again.
    on(InboundRouted, (data, event) => busy.run({ sessionId: data.sessionId, position: event.position }));
    on(AgentMessageDelivered, (data, event) => busy.run({ sessionId: data.targetSessionId, position: event.position }));
  },
});

export class ContainersView {
  private readonly bySession: Database.Statement;
  private readonly live: Database.Statement;
  private readonly countByStatus: Database.Statement;

  constructor(db: Database.Database) {
    this.bySession = db.prepare('SELECT * FROM containers WHERE session_id = ?');
    this.live = db.prepare(`SELECT * FROM containers WHERE status IN ('starting', 'running', 'idle', 'stopping') ORDER BY session_id`);
    this.countByStatus = db.prepare('SELECT status, count(*) AS count FROM containers GROUP BY status ORDER BY status');
  }

  get(sessionId: string): ContainerRow | undefined {
    return this.bySession.get(sessionId) as ContainerRow | undefined;
  }

  /** Every container the log says is starting, running, idle or stopping. */
  listLive(): ContainerRow[] {
    return this.live.all() as ContainerRow[];
  }

  byStatus(): Array<{ status: ContainerStatus; count: number }> {
    return this.countByStatus.all() as Array<{ status: ContainerStatus; count: number }>;
  }
}
