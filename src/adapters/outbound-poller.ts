import { lstatSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { Subscription } from 'rxjs';
import { readAgentTime } from '../commands/agent-time';
import { idProblem, MAX_OUTBOUND_CONTENT_BYTES, MAX_OUTBOUND_FIELD_BYTES, routeOutbound } from '../commands/outbound';
import type { Core } from '../core';
import { Checkpoints } from '../events/checkpoints';
import { InboundRouted } from '../events/inbound';
import { OutboundDropped, type OutboundRowAsRead } from '../events/outbound';
import type { Logger } from '../logger';
import type { SessionFolderRef } from '../projections/sessions';
import { watchFolderFiles } from './folder-watch';
import { OUTBOUND_DB, openOutboundDb, sessionDir, UnsafePathError } from './session-db';
import { classifySessionFailure, isInterruptedCommit, SessionGuard } from './session-guard';

/** The drops that mean an agent is looping or flooding, not that a row was wrong. */
const LIMIT_REASONS: ReadonlySet<string> = new Set(['loop-limit', 'rate-limited']);

/**
 * How soon a session whose agent held its lock is read again. The host never waits on an
 * agent's lock (its reads run on the thread every session shares): it comes back instead.
 */
const BUSY_RETRY_MS = 5;

/** What an agent's commit to outbound.db touches (journal_mode=DELETE: the file and its journal). */
const OUTBOUND_FILES: ReadonlySet<string> = new Set([OUTBOUND_DB, `${OUTBOUND_DB}-journal`, `${OUTBOUND_DB}-wal`]);

export interface OutboundPollerOptions {
  /** The safety net: every active session is read this often even when no watch said so. */
  intervalMs?: number;
  /** Watch live session folders so a row is read as soon as the agent commits it (default true). */
  watch?: boolean;
  /** A session whose outbound.db has not changed for this long gives its handle back (default 10 s); reopened on its next change. */
  idleHandleMs?: number;
  /**
   * The slowest the timed poll gets for a session whose folder watch is live and whose
   * outbound.db stays unchanged (default 5 s): its interval doubles from `intervalMs` up
   * to this, and drops back at its next change. A session without a working watch is
   * read every `intervalMs`, as before.
   */
  idlePollMaxMs?: number;
  /** At most this many outbound.db handles stay open; the least recently read is closed first (default 32). */
  maxOpenHandles?: number;
  /** Rows read per session per tick: bounds one group-commit batch. */
  batchSize?: number;
  clock?: () => Date;
  logger?: Logger;
  /** The failure policy shared with the other components that touch session folders. */
  guard?: SessionGuard;
}

const COLUMNS = ['id', 'seq', 'in_reply_to', 'timestamp', 'deliver_after', 'recurrence', 'kind', 'platform_id', 'channel_type', 'thread_id', 'content'] as const;
/** What the evidence keeps of a column over its cap: enough to recognise it, never the bulk. */
const PREVIEW_CHARS = 200;

/**
 * Every column bounded in SQL, so that a 10 MB value is never read into the host: a column
 * over its cap comes back as a prefix, with its size in bytes beside it.
 */
const SELECT_ROWS = `SELECT rowid AS "row:rowid", ${COLUMNS.map((column) => {
  const over = `octet_length(${column}) > ${column === 'content' ? MAX_OUTBOUND_CONTENT_BYTES : MAX_OUTBOUND_FIELD_BYTES}`;
  return `CASE WHEN ${over} THEN substr(${column}, 1, ${PREVIEW_CHARS}) ELSE ${column} END AS ${column}, CASE WHEN ${over} THEN octet_length(${column}) END AS "oversize:${column}"`;
}).join(', ')} FROM messages_out`;

/** id and seq as SQLite holds them: the decider tells NULL, text, a number and a blob apart. */
const sqlValue = (value: unknown): OutboundRowAsRead['seq'] => {
  if (Buffer.isBuffer(value)) return { blob: value.toString('hex') };
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  return value === null || value === undefined ? null : String(value);
};

interface ReadRow {
  rowid: number;
  row: OutboundRowAsRead;
}

/**
 * A row as SQLite returned it, in the shape every decision records. Other columns are
 * coerced to text as before; a well-formed row comes out exactly as it always did, so
 * re-reading a row decided by an older host repeats its command id and payload.
 */
function asReadRow(raw: Record<string, unknown>): ReadRow {
  const rowid = raw['row:rowid'];
  // A container can redefine the table (WITHOUT ROWID, a column named rowid): nothing then names its rows.
  if (typeof rowid !== 'number' || !Number.isSafeInteger(rowid)) throw new Error('messages_out has no usable rowid');
  const text = (value: unknown) => (value === null || value === undefined ? null : String(value));
  const oversize = Object.fromEntries(COLUMNS.flatMap((column) => (typeof raw[`oversize:${column}`] === 'number' ? [[column, raw[`oversize:${column}`] as number]] : [])));
  const row: OutboundRowAsRead = {
    id: sqlValue(raw.id),
    seq: sqlValue(raw.seq),
    in_reply_to: text(raw.in_reply_to),
    timestamp: String(raw.timestamp ?? ''),
    deliver_after: text(raw.deliver_after),
    recurrence: text(raw.recurrence),
    kind: String(raw.kind ?? ''),
    platform_id: text(raw.platform_id),
    channel_type: text(raw.channel_type),
    thread_id: text(raw.thread_id),
    content: String(raw.content ?? ''),
    ...(Object.keys(oversize).length > 0 && { oversize }),
  };
  if (idProblem(row) !== undefined) row.rowid = rowid;
  return { rowid, row };
}

/**
 * When a row that is not yet due falls due, or undefined if it is due now. A deliver_after
 * the decider will refuse (not a time, beyond the horizon) is due now, to be refused now.
 */
function deferredUntil(row: OutboundRowAsRead, now: number): number | undefined {
  if (row.deliver_after === null) return undefined;
  const time = readAgentTime('deliver_after', row.deliver_after, now);
  return 'at' in time && time.at > now ? time.at : undefined;
}

/** A row read but not yet due, by when it falls due as read. */
interface Waiting {
  rowid: number;
  dueAt: number;
}

/** Where a session's reading stands in this process: rows read through `through`, and those still waiting. */
interface Cursor {
  through: number;
  waiting: Waiting[];
  /** outbound.db as it was before the last read; the same again means nothing new to read. */
  seen: string | undefined;
  /** When the file was last seen to change, for closing idle handles. */
  changedAt: number;
}

/** An open outbound.db, the identity of the file it was opened on, and its statements, prepared once. */
interface Handle {
  db: Database.Database;
  identity: string;
  readAfter: Database.Statement;
  readRowids: Database.Statement;
}

/**
 * When the timed poll next reads an idle, watched session, and the interval that got it
 * there. Absent for a session that changed at its last read or has no live watch: read
 * at every tick.
 */
interface Backoff {
  nextAt: number;
  intervalMs: number;
}

/**
 * A file's timestamps are coarse (the kernel's tick): a commit right after a look could
 * leave size and times as they were. Only a file untouched for this long is trusted to
 * be unchanged when it looks the same.
 */
const SETTLED_MS = 1_000;

/**
 * outbound.db's identity (device and inode), never following a link there, and what tells
 * a change (size, times), or undefined for a file changed too recently to tell by its looks.
 */
function outboundFile(path: string, now: number): { identity: string; state: string | undefined } | undefined {
  const stat = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  if (!stat) return undefined;
  if (!stat.isFile()) throw new UnsafePathError(`${path} is not a regular file (a symlink, folder or device is in its place)`);
  const identity = `${stat.dev}:${stat.ino}`;
  const settled = Number(stat.mtimeMs) < now - SETTLED_MS;
  return { identity, state: settled ? `${identity}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}` : undefined };
}

/**
 * Reads each session's outbound.db (read-only: the container is its only writer) past a
 * per-session checkpoint and turns every due row into a RouteOutbound command, all rows
 * of a session's tick in one group commit together with the checkpoint. Command ids make
 * a re-read harmless, so a crash between reading and committing loses and repeats nothing.
 * Each live session's folder is watched, so its rows are read the moment the agent commits
 * them; the timed tick stays, no faster than before, for whatever a watch misses.
 */
export class OutboundPoller {
  private readonly checkpoints: Checkpoints;
  /** Open outbound.db handles by session, with the identity of the file each was opened on, least recently read first. */
  private readonly handles = new Map<string, Handle>();
  private readonly cursors = new Map<string, Cursor>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private readonly guard: SessionGuard;
  /** Folder watches by session: only sessions that are active and whose folder exists. */
  private readonly watchers = new Map<string, FSWatcher>();
  /** Sessions a watch (or a routed message) asked to be read on the next turn of the event loop. */
  private readonly wanted = new Set<string>();
  /** Idle watched sessions the timed poll leaves alone until their time comes (one scheduler for all of them: the tick). */
  private readonly backoffs = new Map<string, Backoff>();
  /** Sessions to read again shortly, their agent having held the lock at the last read. */
  private readonly busyRetries = new Map<string, NodeJS.Timeout>();
  private routed: Subscription | undefined;

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
    if (this.options.watch ?? true) {
      // A message routed to a session is when its folder comes alive: read it (and start
      // watching it) right after the folder writer has made it, not at the next tick. A
      // watched folder tells of the answer itself: reading it now would find nothing, yet
      // cost a transaction (an fsync) per message.
      this.routed = this.core.store
        .subscribe({ after: this.core.store.lastPosition(), type: InboundRouted.type })
        .subscribe((event) => this.routedInto((event.data as { sessionId: string }).sessionId));
    }
    loop();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.routed?.unsubscribe();
    this.routed = undefined;
    this.wanted.clear();
    for (const retry of this.busyRetries.values()) clearTimeout(retry);
    this.busyRetries.clear();
    for (const sessionId of [...this.watchers.keys()]) this.unwatch(sessionId);
    for (const { db } of this.handles.values()) db.close();
    this.handles.clear();
    this.cursors.clear();
    this.backoffs.clear();
  }

  /**
   * One pass over every active session, but for the idle watched ones whose backed-off
   * time has not come: their watch reads them the moment they change. Returns the number
   * of rows dispatched.
   */
  tick(): number {
    const active = this.core.views.sessions.activeFolders();
    // A session that stopped being active (closed, quarantined) is no longer watched.
    const activeIds = new Set(active.map((session) => session.id));
    for (const sessionId of [...this.watchers.keys()]) if (!activeIds.has(sessionId)) this.unwatch(sessionId);
    const now = this.now();
    return this.pollSessions(active.filter((session) => (this.backoffs.get(session.id)?.nextAt ?? now) <= now));
  }

  private now(): number {
    return (this.options.clock?.() ?? new Date()).getTime();
  }

  /** Reads the given sessions; one loop owns them, so a pass never overlaps another. */
  private pollSessions(sessions: readonly SessionFolderRef[]): number {
    if (this.ticking) return 0;
    this.ticking = true;
    try {
      // One commit (one fsync) for the rows of every session of the pass, not one per
      // session: each session's work is a savepoint of it, so one that fails costs only its own.
      return this.core.store.transaction(() => {
        let dispatched = 0;
        for (const session of sessions) {
          try {
            // A busy or quarantined folder is simply not read this time; the others are.
            const outcome = this.guard.run(session.id, 'outbound-poller', {}, () => this.pollSession(session));
            if (outcome.status === 'done') {
              dispatched += outcome.value;
              this.watch(session);
            } else if (outcome.status === 'retry-later' && classifySessionFailure(outcome.error) === 'busy') {
              // An interrupted commit lasts until an agent opens the file (the sweep starts one): its watch sees the journal go.
              if (!isInterruptedCommit(outcome.error)) this.retrySoon(session.id);
            } else this.forget(session.id);
          } catch (error) {
            this.forget(session.id);
            this.options.logger?.error({ err: error, event: 'OutboundPollFailed', sessionId: session.id }, 'outbound poll failed');
          }
        }
        return dispatched;
      });
    } catch (error) {
      // The pass did not commit: the cursors are ahead of what was recorded. Read those rows again.
      for (const session of sessions) {
        this.forget(session.id);
        this.cursors.delete(session.id);
      }
      this.options.logger?.error({ err: error, event: 'OutboundPollFailed', sessions: sessions.length }, 'outbound poll not committed: its rows are read again');
      return 0;
    } finally {
      this.ticking = false;
    }
  }

  /** An answer is likely soon: an unwatched session is read now, a watched one polled at the full rate again. */
  private routedInto(sessionId: string): void {
    if (this.watchers.has(sessionId)) this.backoffs.delete(sessionId);
    else this.want(sessionId);
  }

  /** Its handle and watch stay: the lock is the agent's commit in progress, most often, and passes. */
  private retrySoon(sessionId: string): void {
    if (this.busyRetries.has(sessionId)) return;
    this.busyRetries.set(
      sessionId,
      setTimeout(() => {
        this.busyRetries.delete(sessionId);
        this.want(sessionId);
      }, BUSY_RETRY_MS),
    );
  }

  /** Reads a session on the next turn of the event loop; many asks before then are one read. */
  private want(sessionId: string): void {
    // A change seen: the timed poll is back to its full rate for this session until it is idle again.
    this.backoffs.delete(sessionId);
    if (this.wanted.size === 0) {
      setImmediate(() => {
        if (!this.timer) return; // stopped meanwhile
        const sessions = [...this.wanted].flatMap((id) => {
          const session = this.core.views.sessions.get(id);
          return session?.status === 'active' ? [session] : [];
        });
        this.wanted.clear();
        this.pollSessions(sessions);
      });
    }
    this.wanted.add(sessionId);
  }

  /** Starts watching a session's folder once it has been read from; a folder that cannot be watched is left to the tick. */
  private watch(session: SessionFolderRef): void {
    if (!(this.options.watch ?? true) || this.watchers.has(session.id) || !this.cursors.has(session.id)) return;
    const dir = sessionDir(this.dataDir, session.agent_group_id, session.id);
    const stopWatching = (error: unknown) => {
      this.unwatch(session.id);
      this.options.logger?.warn({ err: error, event: 'OutboundWatchFailed', sessionId: session.id }, 'session folder not watched: the poll reads it');
    };
    try {
      this.watchers.set(session.id, watchFolderFiles(dir, OUTBOUND_FILES, () => this.want(session.id), stopWatching));
    } catch (error) {
      stopWatching(error);
    }
  }

  private unwatch(sessionId: string): void {
    this.watchers.get(sessionId)?.close();
    this.watchers.delete(sessionId);
    // Without a watch only the poll sees its rows: read at every tick again.
    this.backoffs.delete(sessionId);
  }

  /**
   * After a read that found the file as it was: a watched session's next timed read is put
   * off twice as long as the last (up to idlePollMaxMs, never past a waiting row's due
   * time); any change, or no live watch, brings it back to every tick.
   */
  private scheduleNextRead(sessionId: string, unchanged: boolean, now: number): void {
    if (!unchanged || !this.watchers.has(sessionId)) {
      this.backoffs.delete(sessionId);
      return;
    }
    const base = this.options.intervalMs ?? 250;
    const intervalMs = Math.min(Math.max(base, (this.backoffs.get(sessionId)?.intervalMs ?? base / 2) * 2), this.options.idlePollMaxMs ?? 5_000);
    const firstDue = this.cursors.get(sessionId)?.waiting.reduce((earliest, w) => Math.min(earliest, w.dueAt), Infinity) ?? Infinity;
    this.backoffs.set(sessionId, { nextAt: Math.min(now + intervalMs, firstDue), intervalMs });
  }

  /**
   * Rows are found by rowid, not seq: SQLite gives every inserted row a rowid above all
   * others, whatever seq or id the container wrote (NULL, text, lower than any before),
   * so "rowid above the last read" is "inserted since", in one index range. A tick reads
   * the new rows and re-reads only the waiting rows that have come due. The checkpoint
   * is the rowid below which every row is decided: after a restart the rows above it are
   * read again, and command ids make the repeat harmless.
   */
  private pollSession(session: SessionFolderRef): number {
    const dir = sessionDir(this.dataDir, session.agent_group_id, session.id);
    const now = this.now();
    // Absent: not yet made by the host. A link or anything else in its place throws.
    const file = outboundFile(join(dir, OUTBOUND_DB), Date.now());
    if (!file) {
      this.closeHandle(session.id);
      return 0;
    }
    const consumer = `outbound-rows:${session.id}`;
    const cursor = this.cursors.get(session.id) ?? { through: this.checkpoints.get(consumer), waiting: [], seen: undefined, changedAt: now };
    const comeDue = cursor.waiting.filter((w) => w.dueAt <= now);
    if (comeDue.length === 0 && file.state !== undefined && file.state === cursor.seen) {
      // Nothing written since the last read: no query, and after a while no open handle either.
      if (now - cursor.changedAt >= (this.options.idleHandleMs ?? 10_000)) this.closeHandle(session.id);
      this.scheduleNextRead(session.id, true, now);
      return 0;
    }
    const handle = this.outboundDb(session.id, dir, file.identity);
    const floor = (waiting: Waiting[], through: number) => waiting.reduce((lowest, w) => Math.min(lowest, w.rowid - 1), through);

    const waiting = cursor.waiting.filter((w) => w.dueAt > now);
    const read = (statement: Database.Statement, ...params: unknown[]) => (statement.all(...params) as Record<string, unknown>[]).map(asReadRow);
    const revisited = comeDue.length === 0 ? [] : read(handle.readRowids, JSON.stringify(comeDue.map((w) => w.rowid)));
    if (revisited.length < comeDue.length) {
      // Deleted by the container before it fell due: withdrawn, so there is nothing left to decide.
      const withdrawn = comeDue.filter((w) => !revisited.some((r) => r.rowid === w.rowid)).map((w) => w.rowid);
      this.options.logger?.info({ event: 'OutboundRowWithdrawn', sessionId: session.id, rowids: withdrawn }, 'outbound rows withdrawn before they were due');
    }
    const fresh = read(handle.readAfter, cursor.through, this.options.batchSize ?? 500);
    const due: ReadRow[] = [];
    for (const row of [...revisited, ...fresh]) {
      const dueAt = deferredUntil(row.row, now);
      if (dueAt === undefined) due.push(row);
      else waiting.push({ rowid: row.rowid, dueAt });
    }
    // A full batch leaves more to read: the next look must not take the file as seen.
    const seen = fresh.length < (this.options.batchSize ?? 500) ? file.state : undefined;
    const next: Cursor = { through: fresh.at(-1)?.rowid ?? cursor.through, waiting, seen, changedAt: file.state !== undefined && file.state === cursor.seen ? cursor.changedAt : now };
    const checkpoint = floor(next.waiting, next.through);

    if (due.length > 0 || checkpoint !== floor(cursor.waiting, cursor.through)) {
      // The poller's clock is the decision's time, so both judge a deliver_after against the same now.
      const metadata = { issuedAt: new Date(now).toISOString() };
      this.core.store.transaction(() => {
        const results = this.core.bus.dispatchBatch(due.map(({ row }) => routeOutbound({ sessionId: session.id, row }, metadata)));
        results.forEach((result, i) => {
          if (result.status === 'failed') {
            this.options.logger?.error({ err: result.error, command: 'RouteOutbound', commandId: result.commandId, sessionId: session.id, rowid: due[i]!.rowid }, 'outbound row not handled');
          } else if (result.status === 'accepted') this.logLimitHit(result.events);
        });
        this.checkpoints.save(consumer, checkpoint);
      });
    }
    this.cursors.set(session.id, next);
    this.scheduleNextRead(session.id, false, now);
    return due.length;
  }

  /** Agents answering each other, or a flood, is what an operator looks for in the logs first. */
  private logLimitHit(events: readonly { position: number; type: string }[]): void {
    for (const { position, type } of events) {
      if (type !== OutboundDropped.type) continue;
      const event = this.core.store.readAt(position);
      if (!event || !OutboundDropped.is(event) || !LIMIT_REASONS.has(event.data.reason)) continue;
      const { sessionId, agentGroupId, outboundId, reason, explanation } = event.data;
      this.options.logger?.warn({ event: 'OutboundLimitHit', reason, sessionId, agentGroupId, outboundId, position, correlationId: event.metadata.correlationId }, explanation);
    }
  }

  /** Closes a session's handle and watch, so the next tick opens (and checks) the folder anew. */
  private forget(sessionId: string): void {
    this.closeHandle(sessionId);
    this.unwatch(sessionId);
  }

  private closeHandle(sessionId: string): void {
    this.handles.get(sessionId)?.db.close();
    this.handles.delete(sessionId);
  }

  /**
   * The session's outbound.db, reopened (and checked again) whenever the file at its path
   * is no longer the one the handle has: an agent that swaps it for a link is caught.
   * Open handles are capped: each holds a descriptor and ~150 KB of SQLite's caches and
   * statements, and the allocator keeps what a thousand of them once took (a host that
   * read 1,000 new sessions at once stayed 150 MiB larger for good). Reopening one
   * costs about half a millisecond.
   */
  private outboundDb(sessionId: string, dir: string, identity: string): Handle {
    const open = this.handles.get(sessionId);
    if (open && open.identity === identity) {
      // Most recently read goes last, so the first in the map is the one to close.
      this.handles.delete(sessionId);
      this.handles.set(sessionId, open);
      return open;
    }
    this.closeHandle(sessionId);
    const leastRecent = this.handles.keys().next();
    if (!leastRecent.done && this.handles.size >= (this.options.maxOpenHandles ?? 32)) this.closeHandle(leastRecent.value);
    // Never wait on the agent's lock here, opening or reading: every session's work shares
    // this thread. A busy folder is judged by the guard (busy for too long quarantines) and
    // tried again soon.
    const db = openOutboundDb(dir, 0);
    const handle = {
      db,
      identity,
      readAfter: db.prepare(`${SELECT_ROWS} WHERE rowid > ? ORDER BY rowid LIMIT ?`),
      readRowids: db.prepare(`${SELECT_ROWS} WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY rowid`),
    };
    this.handles.set(sessionId, handle);
    return handle;
  }
}
