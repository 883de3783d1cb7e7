import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { routeOutbound } from '../commands/outbound';
import type { Core } from '../core';
import { Checkpoints } from '../events/checkpoints';
import type { OutboundRow } from '../events/outbound';
import type { Logger } from '../logger';
import type { SessionRow } from '../projections/sessions';
import { OUTBOUND_DB, openOutboundDb, regularFileIdentity, sessionDir } from './session-db';
import { SessionGuard } from './session-guard';

export interface OutboundPollerOptions {
  intervalMs?: number;
  /** Rows read per session per tick: bounds one group-commit batch. */
  batchSize?: number;
  clock?: () => Date;
  logger?: Logger;
  /** The failure policy shared with the other components that touch session folders. */
  guard?: SessionGuard;
}

/** Coerces a row as SQLite returned it to the row schema, so a hostile type never stalls the session. */
function asOutboundRow(raw: Record<string, unknown>): OutboundRow {
  const text = (value: unknown) => (value === null || value === undefined ? null : String(value));
  return {
    id: String(raw.id),
    seq: Number(raw.seq),
    in_reply_to: text(raw.in_reply_to),
    timestamp: String(raw.timestamp ?? ''),
    deliver_after: text(raw.deliver_after),
    recurrence: text(raw.recurrence),
    kind: String(raw.kind ?? ''),
    platform_id: text(raw.platform_id),
    channel_type: text(raw.channel_type),
    thread_id: text(raw.thread_id),
    content: String(raw.content ?? ''),
  };
}

/** A row whose deliver_after is in the future waits; times are compared as instants, not strings. */
const isDue = (row: OutboundRow, now: number) => row.deliver_after === null || !(Date.parse(row.deliver_after) > now);

/**
 * Reads each session's outbound.db (read-only: the container is its only writer) past a
 * per-session checkpoint and turns every due row into a RouteOutbound command, all rows
 * of a session's tick in one group commit together with the checkpoint. Command ids make
 * a re-read harmless, so a crash between reading and committing loses and repeats nothing.
 */
export class OutboundPoller {
  private readonly checkpoints: Checkpoints;
  /** Open outbound.db handles by session, with the identity of the file each was opened on. */
  private readonly handles = new Map<string, { db: Database.Database; identity: string }>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private readonly guard: SessionGuard;

  constructor(
    private readonly core: Core,
    private readonly dataDir: string,
    private readonly options: OutboundPollerOptions = {},
  ) {
    this.checkpoints = new Checkpoints(core.store.db);
    this.guard = options.guard ?? new SessionGuard(core, options.logger ? { logger: options.logger } : {});
  }

  start(): void {
    if (this.timer) return;
    const interval = this.options.intervalMs ?? 250;
    const loop = () => {
      this.tick();
      this.timer = setTimeout(loop, interval);
    };
    loop();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const { db } of this.handles.values()) db.close();
    this.handles.clear();
  }

  /** One pass over every active session. Returns the number of rows dispatched. */
  tick(): number {
    // One loop owns the sessions: a tick never overlaps another.
    if (this.ticking) return 0;
    this.ticking = true;
    try {
      let dispatched = 0;
      for (const session of this.core.views.sessions.list()) {
        if (session.status !== 'active') continue;
        try {
          // A busy or quarantined folder is simply not read this tick; the others are.
          const outcome = this.guard.run(session.id, 'outbound-poller', {}, () => this.pollSession(session));
          if (outcome.status === 'done') dispatched += outcome.value;
          else this.forget(session.id);
        } catch (error) {
          this.forget(session.id);
          this.options.logger?.error({ err: error, event: 'OutboundPollFailed', sessionId: session.id }, 'outbound poll failed');
        }
      }
      return dispatched;
    } finally {
      this.ticking = false;
    }
  }

  private pollSession(session: SessionRow): number {
    const db = this.outboundDb(session);
    if (!db) return 0;
    const consumer = `outbound-poller:${session.id}`;
    const checkpoint = this.checkpoints.get(consumer);
    const rows = (
      db.prepare('SELECT * FROM messages_out WHERE seq > ? ORDER BY seq LIMIT ?').all(checkpoint, this.options.batchSize ?? 500) as Record<string, unknown>[]
    ).map(asOutboundRow);
    const now = (this.options.clock?.() ?? new Date()).getTime();
    const due = rows.filter((row) => isDue(row, now));
    if (due.length === 0) return 0;
    // The checkpoint only passes rows that are handled: a row not yet due holds it back.
    const firstWaiting = rows.find((row) => !isDue(row, now));
    const handledThrough = firstWaiting ? Math.max(checkpoint, ...due.filter((r) => r.seq < firstWaiting.seq).map((r) => r.seq)) : rows[rows.length - 1]!.seq;
    this.core.store.transaction(() => {
      const results = this.core.bus.dispatchBatch(due.map((row) => routeOutbound({ sessionId: session.id, row })));
      results.forEach((result, i) => {
        if (result.status === 'failed') {
          this.options.logger?.error({ err: result.error, command: 'RouteOutbound', sessionId: session.id, outboundId: due[i]!.id }, 'outbound row not handled');
        }
      });
      if (handledThrough > checkpoint) this.checkpoints.save(consumer, handledThrough);
    });
    return due.length;
  }

  /** Closes a session's handle, so the next tick opens (and checks) the file anew. */
  private forget(sessionId: string): void {
    this.handles.get(sessionId)?.db.close();
    this.handles.delete(sessionId);
  }

  /**
   * The session's outbound.db, reopened (and checked again) whenever the file at its path
   * is no longer the one the handle has: an agent that swaps it for a link is caught.
   */
  private outboundDb(session: SessionRow): Database.Database | undefined {
    const dir = sessionDir(this.dataDir, session.agent_group_id, session.id);
    // Absent: not yet made by the host. A link or anything else in its place throws.
    const identity = regularFileIdentity(join(dir, OUTBOUND_DB));
    const open = this.handles.get(session.id);
    if (open && open.identity === identity) return open.db;
    this.forget(session.id);
    if (identity === undefined) return undefined;
    const db = openOutboundDb(dir);
    this.handles.set(session.id, { db, identity });
    return db;
  }
}
