import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { ExpireApproval } from '../../commands/approvals';
import type { Outcome } from '../../commands/bus';
import { MarkContainerIdle, StopContainer } from '../../commands/containers';
import type { CommandEnvelope } from '../../commands/define';
import { ExpireUnclaimedMessage, RetryAbandonedMessage, UNCLAIMED_SYSTEM_ROW_MS } from '../../commands/retries';
import { ScheduleNextOccurrence } from '../../commands/tasks';
import { TaskScheduled } from '../../events/tasks';
import type { Core } from '../../core';
import type { Logger } from '../../logger';
import { LIVE_STATUSES, type ContainerRow } from '../../projections/containers';
import type { SessionRow } from '../../projections/sessions';
import { inProcessInboundWriter, type InboundWriter, type Settlement } from '../inbound-writer';
import { heartbeatAt, INBOUND_DB, openInboundDb, openOutboundDb, regularFileIdentity, sessionDir } from '../session-db';
import { classifySessionFailure, isInterruptedCommit, SessionGuard } from '../session-guard';
import type { ContainerLifecycle } from './lifecycle';

export interface SweepOptions {
  dataDir: string;
  intervalMs: number;
  /** No work and no activity for this long: the container is stopped. */
  idleTimeoutMs: number;
  /** No heartbeat for this long (counted from the start of this incarnation at the earliest): stopped. */
  heartbeatTimeoutMs: number;
  /** However busy, a container is stopped after running this long; the next message wakes a fresh one. */
  maxRuntimeMs: number;
  /** A `system` row no agent claimed this long after it fell due is expired (default UNCLAIMED_SYSTEM_ROW_MS). */
  unclaimedSystemRowMs?: number;
  clock?: () => Date;
  logger?: Logger;
  /** The failure policy shared with the other components that touch session folders. */
  guard?: SessionGuard;
  /**
   * Where the agent's terminal acks are written into messages_in: the host hands it its
   * worker thread's writer, where a commit may wait for the agent's lock. Without one they
   * are written on the host's thread, which then waits up to SESSION_DB_BUSY_TIMEOUT_MS for
   * that lock (and a lock held longer fails the settle as busy, to be tried at the next pass).
   */
  writer?: InboundWriter;
}

/** What the sweep reads of a pending messages_in row: when it is due, and nothing it would act on blindly. */
interface PendingRow {
  id: string;
  kind: string;
  timestamp: string;
  process_after: string | null;
  recurrence: string | null;
}

/** The agent's word on a message it took, from outbound.db's processing_ack. */
interface Ack {
  status: string;
  status_changed: string;
}

/** What the sweep reads of a session folder: all of it, before it decides anything. */
interface FolderSnapshot {
  acks: Map<string, Ack>;
  pending: PendingRow[];
  /** The times of the newest rows the agent wrote (outbound) and the host wrote (inbound). */
  lastOut: number;
  lastIn: number;
}

/** What one pass did, for logs and tests. */
export interface SweepReport {
  sessions: number;
  woken: string[];
  stopped: Array<{ sessionId: string; reason: string }>;
  retried: string[];
  failed: string[];
  rearmed: string[];
  /** Approval requests that expired undecided. */
  expired: string[];
  /** System rows expired unclaimed (spec §10). */
  expiredMessages: string[];
  /** Sessions whose folder could not be swept this pass; the others were. */
  failedSessions: Array<{ sessionId: string; error: string }>;
  /** Sessions whose agent held a lock the sweep would have had to wait for: swept at a later pass, as the guard decides. */
  busySessions: string[];
}

/**
 * An instant from a session database or the log: `YYYY-MM-DD HH:MM:SS` (the form the
 * session databases use, spec §2) is UTC, like ISO-8601 with its offset.
 */
const instant = (time: string | null): number => (time === null ? 0 : Date.parse(time.replace(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d(:\d\d(\.\d+)?)?)$/, '$1T$2Z')));

const isTerminal = (status: string | undefined): status is Settlement['status'] => status === 'completed' || status === 'failed';

/**
 * The periodic pass over every session folder (spec §7): copies the agent's terminal
 * processing states into messages_in, re-arms recurring tasks, wakes sessions with due
 * work and no container, retries messages a dead or hung agent left half-done, and stops
 * containers whose heartbeat is lost while they hold a claim or leave due work untaken,
 * that idled past the timeout or ran past the ceiling. Every stop and wake is a command, recorded with its evidence.
 */
export class Sweep {
  private timer: NodeJS.Timeout | undefined;
  private readonly clock: () => Date;
  private readonly guard: SessionGuard;
  private readonly writer: InboundWriter;
  /** The settle each session has in the writer's hands: at most one, so a folder that keeps it waiting cannot pile them up. */
  private readonly settling = new Map<string, Promise<void>>();

  constructor(
    private readonly core: Pick<Core, 'bus' | 'views'>,
    private readonly lifecycle: Pick<ContainerLifecycle, 'wake'>,
    private readonly options: SweepOptions,
  ) {
    this.clock = options.clock ?? (() => new Date());
    this.guard = options.guard ?? new SessionGuard(core, options.logger ? { logger: options.logger } : {});
    this.writer = options.writer ?? inProcessInboundWriter;
  }

  start(): void {
    this.timer ??= setInterval(() => {
      try {
        this.run();
      } catch (error) {
        this.options.logger?.error({ err: error }, 'sweep failed');
      }
    }, this.options.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Resolves once every settle asked for so far is written or judged: the writer may close then. */
  async settled(): Promise<void> {
    await Promise.all(this.settling.values());
  }

  run(): SweepReport {
    const report: SweepReport = { sessions: 0, woken: [], stopped: [], retried: [], failed: [], rearmed: [], expired: [], expiredMessages: [], failedSessions: [], busySessions: [] };
    const now = this.clock().getTime();
    for (const session of this.core.views.sessions.list()) {
      if (session.status !== 'active') continue;
      // A folder is agent-reachable: whatever is wrong in one must not stop the pass for the others.
      try {
        const outcome = this.guard.run(session.id, 'sweep', {}, () => this.sweepFolder(session, now, report));
        // The guard has logged a busy folder (at debug while it is brief) and quarantines one busy for too long.
        if (outcome.status === 'retry-later' && classifySessionFailure(outcome.error) === 'busy') report.busySessions.push(session.id);
        else if (outcome.status === 'retry-later') throw outcome.error;
      } catch (error) {
        report.failedSessions.push({ sessionId: session.id, error: error instanceof Error ? error.message : String(error) });
        this.options.logger?.error({ event: 'SweepSessionFailed', sessionId: session.id, err: error }, 'sweep of a session failed; the others were swept');
      }
    }
    for (const approval of this.core.views.approvals.expiredAt(new Date(now).toISOString())) {
      if (this.dispatch(ExpireApproval.envelope(`expire:${approval.approval_id}`, { approvalId: approval.approval_id })).status === 'accepted') report.expired.push(approval.approval_id);
    }
    // A busy folder alone is no news: the guard tells of it once it lasts.
    const { sessions: _count, busySessions: _busy, ...outcomes } = report;
    if (Object.values(outcomes).some((list) => list.length > 0)) {
      this.options.logger?.info({ event: 'SweepDone', ...report }, 'sweep');
    }
    return report;
  }

  private sweepFolder(session: SessionRow, now: number, report: SweepReport): void {
    const dir = sessionDir(this.options.dataDir, session.agent_group_id, session.id);
    // Absent: not made yet. A link or anything else in its place throws, and the guard quarantines the folder.
    if (regularFileIdentity(join(dir, INBOUND_DB)) === undefined) return;
    report.sessions++;
    let snapshot: FolderSnapshot;
    try {
      snapshot = readFolder(dir);
    } catch (error) {
      if (isInterruptedCommit(error)) this.wakeToRollBack(session, report);
      throw error;
    }
    this.sweepSession(session, dir, snapshot, now, report);
  }

  /**
   * An agent died in the middle of a commit to outbound.db, which the host may not roll back
   * and cannot read until someone does: with no agent live, one is started, and opening the
   * file rolls the commit back. Until then the folder is busy to the guard.
   */
  private wakeToRollBack(session: SessionRow, report: SweepReport): void {
    const container = this.core.views.containers.get(session.id);
    if (container && LIVE_STATUSES.has(container.status)) return;
    if (this.lifecycle.wake(session.id, 'sweep: outbound.db holds a commit its agent did not finish').status === 'accepted') report.woken.push(session.id);
  }

  private sweepSession(session: SessionRow, dir: string, { acks, pending, lastOut, lastIn }: FolderSnapshot, now: number, report: SweepReport): void {
    const settlements: Settlement[] = [];
    const claimed: PendingRow[] = [];
    /** When the newest claim was made: the agent's own word, so never later than now, and nothing when unreadable. */
    let lastClaim = 0;
    const due: PendingRow[] = [];
    /** When the oldest due row became due (written, or its process_after passed). */
    let dueSince = now;
    const unclaimedTtl = this.options.unclaimedSystemRowMs ?? UNCLAIMED_SYSTEM_ROW_MS;
    for (const row of pending) {
      const ack = acks.get(row.id);
      if (isTerminal(ack?.status)) {
        // Re-armed before its settle is even asked for: a crash, or a settle that fails, leaves the row pending with its
        // terminal ack, so a later pass re-arms it again, and the command id (rearm:<session>:<row>) makes that a duplicate.
        this.rearm(session, row, report);
        settlements.push({ messageId: row.id, status: ack.status });
      } else if (ack?.status === 'processing') {
        claimed.push(row);
        lastClaim = Math.max(lastClaim, Math.min(now, instant(ack.status_changed)) || 0);
      } else if (instant(row.process_after) <= now) {
        const dueAt = Math.max(instant(row.process_after), instant(row.timestamp)) || now;
        // An agent waiting for a system row takes it at once; one left this long has nobody to take it.
        if (row.kind === 'system' && now - dueAt >= unclaimedTtl && this.expire(session, row, dueAt, unclaimedTtl, now, report)) continue;
        due.push(row);
        dueSince = Math.min(dueSince, dueAt);
      }
    }
    this.settle(session.id, dir, settlements);

    const container = this.core.views.containers.get(session.id);
    const live = container && LIVE_STATUSES.has(container.status);
    if (!live) {
      // Claimed by an agent that is gone: retried, later each time, and due again once the log says so.
      due.push(...this.retry(session, container?.started_at ? container.incarnation_id : null, claimed, now, report));
      if (due.length > 0 && this.lifecycle.wake(session.id, 'sweep: due messages').status === 'accepted') report.woken.push(session.id);
      return;
    }
    if (container.status !== 'running' && container.status !== 'idle') return;
    const startedAt = instant(container.started_at);
    // A runner touches its heartbeat only while it works: its silence means a hang only while it holds a claim, or
    // leaves due work untaken (a live one polls). An idle one is alive as long as the runtime has reported no exit,
    // and the idle timeout ends it. It owes a sign from its own start (never judged by its predecessor's heartbeat),
    // and for due work alone, from when that fell due.
    const owedSince = claimed.length > 0 ? startedAt : due.length > 0 ? Math.max(startedAt, dueSince) : undefined;
    if (owedSince !== undefined) {
      const heartbeat = heartbeatAt(dir);
      // A claim is a sign too: after a long idle, it may come a moment before the first touch of the heartbeat.
      const lastSign = Math.max(heartbeat ?? 0, owedSince, lastClaim);
      if (now - lastSign > this.options.heartbeatTimeoutMs) {
        const evidence = {
          heartbeatAt: heartbeat && new Date(heartbeat).toISOString(),
          startedAt: container.started_at,
          claimedAt: lastClaim ? new Date(lastClaim).toISOString() : null,
          silentMs: now - lastSign,
          stuck: claimed.map((r) => r.id),
          untaken: due.map((r) => r.id),
        };
        this.stopContainer(container, 'heartbeat-lost', evidence, report);
        this.retry(session, container.incarnation_id, claimed, now, report);
        return;
      }
    }
    if (now - startedAt > this.options.maxRuntimeMs) {
      this.stopContainer(container, 'runtime-ceiling', { startedAt: container.started_at, runtimeMs: now - startedAt }, report);
      return;
    }
    if (due.length + claimed.length > 0) return;
    const lastActivity = Math.max(startedAt, lastOut, lastIn);
    const lastActivityAt = new Date(lastActivity).toISOString();
    if (container.status === 'running') {
      this.dispatch(MarkContainerIdle.envelope(`idle:${container.incarnation_id}:${lastActivityAt}`, { sessionId: session.id, incarnationId: container.incarnation_id, lastActivityAt }));
    }
    if (now - lastActivity > this.options.idleTimeoutMs) {
      this.stopContainer(container, 'idle-timeout', { lastActivityAt, idleMs: now - lastActivity }, report);
    }
  }

  /**
   * Hands the agent's verdicts to the inbound writer, the host's one writer of inbound.db: in
   * the host, its worker thread, where the commit may wait for the agent's read lock while
   * this thread goes on with every other session. A failure is judged by the guard like any
   * other in the folder; its rows stay pending, and the next pass asks again.
   */
  private settle(sessionId: string, dir: string, settlements: Settlement[]): void {
    if (settlements.length === 0 || this.settling.has(sessionId)) return;
    const settling = this.guard
      .runAsync(sessionId, 'sweep', {}, () => this.writer.settle(dir, settlements))
      .then(
        () => undefined,
        (error: unknown) => this.options.logger?.error({ err: error, event: 'SweepSettleFailed', sessionId }, 'settling terminal acks failed; the next pass tries again'),
      )
      .finally(() => this.settling.delete(sessionId));
    this.settling.set(sessionId, settling);
  }

  private stopContainer(container: ContainerRow, reason: 'heartbeat-lost' | 'runtime-ceiling' | 'idle-timeout', evidence: Record<string, unknown>, report: SweepReport): void {
    const { session_id: sessionId, incarnation_id: incarnationId } = container;
    const outcome = this.dispatch(StopContainer.envelope(`stop:${incarnationId}:${reason}`, { sessionId, incarnationId, reason, evidence }));
    if (outcome.status === 'accepted') report.stopped.push({ sessionId, reason });
  }

  /**
   * Judges each claim the dead agent left once: the claimant (the last container that
   * started) is in the command id, so every later pass that sees the same stale claim
   * decides nothing new. A container that never started cannot have claimed anything,
   * so a claim it inherited is judged only if the log has no retry for it yet. The
   * session-folder reactor writes the decision into inbound.db; a fresh runner drops the
   * stale claim at its start. Returns the claimed rows whose retry is due.
   */
  private retry(session: SessionRow, claimant: string | null, rows: readonly PendingRow[], now: number, report: SweepReport): PendingRow[] {
    const due: PendingRow[] = [];
    for (const row of rows) {
      let state = this.core.views.retries.get(session.id, row.id);
      const judged = state?.status === 'failed' || (claimant === null ? state !== undefined : state?.incarnation_id === claimant);
      if (!judged) {
        const outcome = this.dispatch(
          RetryAbandonedMessage.envelope(`retry:${session.id}:${row.id}:${claimant ?? 'none'}`, { sessionId: session.id, messageId: row.id, incarnationId: claimant }),
        );
        if (outcome.status === 'accepted' && !outcome.duplicate) {
          const types = outcome.events.map((e) => e.type);
          (types.includes('MessageFailed') ? report.failed : report.retried).push(row.id);
          if (types.includes(TaskScheduled.type)) report.rearmed.push(row.id);
        }
        state = this.core.views.retries.get(session.id, row.id);
      }
      if (state?.status === 'retrying' && instant(state.due_at) <= now) due.push(row);
    }
    return due;
  }

  /**
   * Records the expiry once (the command id is the row's); true once the log has it, so the
   * row counts as work no more, though the session-folder reactor may not have marked it yet.
   */
  private expire(session: SessionRow, row: PendingRow, dueAt: number, ttlMs: number, now: number, report: SweepReport): boolean {
    const outcome = this.dispatch(
      ExpireUnclaimedMessage.envelope(
        `expire:${session.id}:${row.id}`,
        { sessionId: session.id, messageId: row.id, kind: 'system', dueAt: new Date(dueAt).toISOString(), ttlMs },
        { issuedAt: new Date(now).toISOString() },
      ),
    );
    if (outcome.status !== 'accepted') return false;
    if (!outcome.duplicate) report.expiredMessages.push(row.id);
    return true;
  }

  /** Only the log says what recurs: a row the log did not schedule as a recurring task is never re-armed, whatever it claims. */
  private rearm(session: SessionRow, row: PendingRow, report: SweepReport): void {
    if (!this.core.views.tasks.occurrence(session.id, row.id)?.recurrence) {
      if (row.recurrence !== null) {
        this.options.logger?.warn({ event: 'UntrustedRecurrenceIgnored', sessionId: session.id, messageId: row.id }, 'a row claims a recurrence the log does not know: not re-armed');
      }
      return;
    }
    const outcome = this.dispatch(ScheduleNextOccurrence.envelope(`rearm:${session.id}:${row.id}`, { sessionId: session.id, previousMessageId: row.id }));
    if (outcome.status === 'accepted' && !outcome.duplicate) report.rearmed.push(row.id);
  }

  private dispatch(envelope: CommandEnvelope): Outcome {
    return this.core.bus.dispatch(envelope);
  }
}

/**
 * Reads what the sweep needs of a folder, never waiting on the agent's lock (busy_timeout 0):
 * every session's work shares the host's thread, so a locked database throws SQLITE_BUSY at
 * once, for the guard to judge. All is read before anything is decided, so that a lock met
 * half-way leaves no decision half-made.
 */
function readFolder(dir: string): FolderSnapshot {
  const inbound = openInboundDb(dir, 0);
  try {
    const outbound = openOutboundDb(dir, 0);
    try {
      const acks = outbound.prepare('SELECT message_id, status, status_changed FROM processing_ack').all() as Array<Ack & { message_id: string }>;
      return {
        acks: new Map(acks.map((a) => [a.message_id, a])),
        pending: inbound.prepare(`SELECT id, kind, timestamp, process_after, recurrence FROM messages_in WHERE status = 'pending' ORDER BY seq`).all() as PendingRow[],
        lastOut: latest(outbound, 'messages_out'),
        lastIn: latest(inbound, 'messages_in'),
      };
    } finally {
      outbound.close();
    }
  } finally {
    inbound.close();
  }
}

/** The newest row's time in a message table (its timestamp column), 0 when empty. */
function latest(db: Database.Database, table: 'messages_in' | 'messages_out'): number {
  const rows = db.prepare(`SELECT timestamp FROM ${table} ORDER BY seq DESC LIMIT 50`).pluck().all() as string[];
  return Math.max(0, ...rows.map(instant));
}
