import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { ExpireApproval } from '../../commands/approvals';
import { MarkContainerIdle, StopContainer } from '../../commands/containers';
import type { CommandEnvelope } from '../../commands/define';
import { ScheduleNextOccurrence } from '../../commands/tasks';
import type { Core } from '../../core';
import type { Logger } from '../../logger';
import { LIVE_STATUSES, type ContainerRow } from '../../projections/containers';
import type { SessionRow } from '../../projections/sessions';
import { INBOUND_DB, openInboundDb, openOutboundDb, sessionDir } from '../session-db';
import type { ContainerLifecycle } from './lifecycle';

/** A stuck message is retried after 5 s × 2^tries, and fails after this many tries (spec §7). */
const RETRY_BASE_MS = 5_000;
const MAX_TRIES = 5;

export interface SweepOptions {
  dataDir: string;
  intervalMs: number;
  /** No work and no activity for this long: the container is stopped. */
  idleTimeoutMs: number;
  /** No heartbeat for this long (counted from the start of this incarnation at the earliest): stopped. */
  heartbeatTimeoutMs: number;
  /** However busy, a container is stopped after running this long; the next message wakes a fresh one. */
  maxRuntimeMs: number;
  clock?: () => Date;
  logger?: Logger;
}

interface PendingRow {
  id: string;
  process_after: string | null;
  tries: number;
  kind: string;
  recurrence: string | null;
  platform_id: string | null;
  channel_type: string | null;
  thread_id: string | null;
  content: string;
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
}

const instant = (iso: string | null): number => (iso === null ? 0 : Date.parse(iso));

/**
 * The periodic pass over every session folder (spec §7): copies the agent's terminal
 * processing states into messages_in, re-arms recurring tasks, wakes sessions with due
 * work and no container, retries messages a dead or hung agent left half-done, and stops
 * containers whose heartbeat is lost, that idled past the timeout or ran past the
 * ceiling. Every stop and wake is a command, recorded with its evidence.
 */
export class Sweep {
  private timer: NodeJS.Timeout | undefined;
  private readonly clock: () => Date;

  constructor(
    private readonly core: Pick<Core, 'bus' | 'views'>,
    private readonly lifecycle: Pick<ContainerLifecycle, 'wake'>,
    private readonly options: SweepOptions,
  ) {
    this.clock = options.clock ?? (() => new Date());
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

  run(): SweepReport {
    const report: SweepReport = { sessions: 0, woken: [], stopped: [], retried: [], failed: [], rearmed: [], expired: [] };
    const now = this.clock().getTime();
    for (const session of this.core.views.sessions.list()) {
      const dir = sessionDir(this.options.dataDir, session.agent_group_id, session.id);
      if (session.status !== 'active' || !existsSync(join(dir, INBOUND_DB))) continue;
      report.sessions++;
      const inbound = openInboundDb(dir);
      const outbound = openOutboundDb(dir);
      try {
        this.sweepSession(session, dir, inbound, outbound, now, report);
      } finally {
        inbound.close();
        outbound.close();
      }
    }
    for (const approval of this.core.views.approvals.expiredAt(new Date(now).toISOString())) {
      if (this.dispatch(ExpireApproval.envelope(`expire:${approval.approval_id}`, { approvalId: approval.approval_id })).status === 'accepted') report.expired.push(approval.approval_id);
    }
    if (report.expired.length + report.woken.length + report.stopped.length + report.retried.length + report.failed.length + report.rearmed.length > 0) {
      this.options.logger?.info({ event: 'SweepDone', ...report }, 'sweep');
    }
    return report;
  }

  private sweepSession(session: SessionRow, dir: string, inbound: Database.Database, outbound: Database.Database, now: number, report: SweepReport): void {
    const acks = new Map(
      (outbound.prepare('SELECT message_id, status FROM processing_ack').all() as Array<{ message_id: string; status: string }>).map((a) => [a.message_id, a.status]),
    );
    const pending = inbound.prepare(`SELECT * FROM messages_in WHERE status = 'pending' ORDER BY seq`).all() as PendingRow[];
    const settle = inbound.prepare('UPDATE messages_in SET status = ? WHERE id = ?');
    const claimed: PendingRow[] = [];
    const due: PendingRow[] = [];
    inbound.transaction(() => {
      for (const row of pending) {
        const ack = acks.get(row.id);
        if (ack === 'completed' || ack === 'failed') {
          // The host is inbound.db's only writer: it copies the agent's verdict across.
          settle.run(ack, row.id);
          if (ack === 'completed' && row.recurrence) this.rearm(session, row, report);
        } else if (ack === 'processing') claimed.push(row);
        else if (instant(row.process_after) <= now) due.push(row);
      }
    })();

    const container = this.core.views.containers.get(session.id);
    const live = container && LIVE_STATUSES.has(container.status);
    if (!live) {
      // Claimed by an agent that is gone: retry them, later each time.
      this.retry(inbound, claimed, now, report);
      if (due.length > 0 && this.lifecycle.wake(session.id, 'sweep: due messages').status === 'accepted') report.woken.push(session.id);
      return;
    }
    if (container.status !== 'running' && container.status !== 'idle') return;
    const startedAt = instant(container.started_at);
    const heartbeat = heartbeatAt(dir);
    // A fresh incarnation is judged from its own start, never by its predecessor's heartbeat.
    const lastSign = Math.max(heartbeat ?? 0, startedAt);
    if (now - lastSign > this.options.heartbeatTimeoutMs) {
      this.stopContainer(container, 'heartbeat-lost', { heartbeatAt: heartbeat && new Date(heartbeat).toISOString(), startedAt: container.started_at, silentMs: now - lastSign, stuck: claimed.map((r) => r.id) }, report);
      this.retry(inbound, claimed, now, report);
      return;
    }
    if (now - startedAt > this.options.maxRuntimeMs) {
      this.stopContainer(container, 'runtime-ceiling', { startedAt: container.started_at, runtimeMs: now - startedAt }, report);
      return;
    }
    if (due.length + claimed.length > 0) return;
    const lastActivity = Math.max(startedAt, latest(outbound, 'messages_out'), latest(inbound, 'messages_in'));
    const lastActivityAt = new Date(lastActivity).toISOString();
    if (container.status === 'running') {
      this.dispatch(MarkContainerIdle.envelope(`idle:${container.incarnation_id}:${lastActivityAt}`, { sessionId: session.id, incarnationId: container.incarnation_id, lastActivityAt }));
    }
    if (now - lastActivity > this.options.idleTimeoutMs) {
      this.stopContainer(container, 'idle-timeout', { lastActivityAt, idleMs: now - lastActivity }, report);
    }
  }

  private stopContainer(container: ContainerRow, reason: 'heartbeat-lost' | 'runtime-ceiling' | 'idle-timeout', evidence: Record<string, unknown>, report: SweepReport): void {
    const { session_id: sessionId, incarnation_id: incarnationId } = container;
    const outcome = this.dispatch(StopContainer.envelope(`stop:${incarnationId}:${reason}`, { sessionId, incarnationId, reason, evidence }));
    if (outcome.status === 'accepted') report.stopped.push({ sessionId, reason });
  }

  private retry(inbound: Database.Database, rows: readonly PendingRow[], now: number, report: SweepReport): void {
    const later = inbound.prepare('UPDATE messages_in SET tries = ?, process_after = ? WHERE id = ?');
    const fail = inbound.prepare(`UPDATE messages_in SET tries = ?, status = 'failed' WHERE id = ?`);
    inbound.transaction(() => {
      for (const row of rows) {
        const tries = row.tries + 1;
        if (tries >= MAX_TRIES) {
          fail.run(tries, row.id);
          report.failed.push(row.id);
        } else {
          later.run(tries, new Date(now + RETRY_BASE_MS * 2 ** row.tries).toISOString(), row.id);
          report.retried.push(row.id);
        }
      }
    })();
  }

  private rearm(session: SessionRow, row: PendingRow, report: SweepReport): void {
    const content = JSON.parse(row.content) as { taskId?: string; prompt?: string; script?: string | null };
    const outcome = this.dispatch(
      ScheduleNextOccurrence.envelope(`recur:${session.id}:${row.id}`, {
        sessionId: session.id,
        previousMessageId: row.id,
        taskId: content.taskId ?? row.id,
        prompt: content.prompt ?? '',
        script: content.script ?? null,
        recurrence: row.recurrence!,
        platformId: row.platform_id,
        channelType: row.channel_type,
        threadId: row.thread_id,
      }),
    );
    if (outcome.status === 'accepted' && !outcome.duplicate) report.rearmed.push(row.id);
  }

  private dispatch(envelope: CommandEnvelope) {
    return this.core.bus.dispatch(envelope);
  }
}

function heartbeatAt(dir: string): number | undefined {
  try {
    return statSync(join(dir, '.heartbeat')).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The newest row's time in a message table (its timestamp column), 0 when empty. */
function latest(db: Database.Database, table: 'messages_in' | 'messages_out'): number {
  const rows = db.prepare(`SELECT timestamp FROM ${table} ORDER BY seq DESC LIMIT 50`).pluck().all() as string[];
  return Math.max(0, ...rows.map(instant));
}
