import { randomUUID } from 'node:crypto';
import { QuarantineSession } from '../commands/quarantine';
import type { Core } from '../core';
import type { QuarantineReason } from '../events/quarantine';
import type { Logger } from '../logger';
import { UnsafePathError } from './session-db';

/**
 * What a failure in a session folder says about it:
 * - `tampered`: a link, or a non-regular file, where the contract has a file or folder;
 * - `unreadable`: a session database that is not one, or not the contract's (garbage,
 *   a dropped table, a row that clashes with the host's);
 * - `busy`: the agent holds a lock, or died in the middle of a commit (see
 *   isInterruptedCommit); it passes, unless it does not;
 * - `host`: storage or resources are short (a full disk or quota, I/O errors, descriptors,
 *   memory), which no agent is to blame for and which heals: retry, never quarantine.
 */
export type SessionFailure = 'tampered' | 'unreadable' | 'busy' | 'host';

/**
 * outbound.db holds a commit its agent did not finish (killed while writing: the rollback
 * journal beside it is hot). Only a connection that may write can roll it back, and the
 * host opens outbound.db read-only (spec §2), so it cannot read the file until the next
 * agent opens it, which rolls the commit back. Not damage: a stop the host itself ordered
 * can cause it.
 */
export const isInterruptedCommit = (error: unknown): boolean => (error as { code?: unknown } | null)?.code === 'SQLITE_READONLY_ROLLBACK';

/** A folder busy for less than this is an agent's commit in progress, logged at debug; longer, at warn. */
const BUSY_NEWS_AFTER_MS = 1_000;

const HOST_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EMFILE', 'ENFILE', 'ENOMEM']);
const TAMPER_ERRNOS = new Set(['ELOOP', 'ENOTDIR', 'EISDIR']);

export function classifySessionFailure(error: unknown): SessionFailure {
  if (error instanceof UnsafePathError) return 'tampered';
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return 'busy';
  if (HOST_ERRNOS.has(code) || code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code === 'SQLITE_NOMEM') return 'host';
  if (TAMPER_ERRNOS.has(code)) return 'tampered';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || isInterruptedCommit(error)) return 'busy';
  // NOTADB, CORRUPT, a missing table or column (SQLITE_ERROR), a clash with a forged row, a read-only file…
  if (code.startsWith('SQLITE_') || code === 'EACCES' || code === 'EPERM') return 'unreadable';
  return 'busy';
}

const QUARANTINE_REASON: Record<Exclude<SessionFailure, 'host'>, QuarantineReason> = {
  tampered: 'unsafe-path',
  unreadable: 'unreadable-database',
  busy: 'persistent-failure',
};

export interface SessionGuardOptions {
  /** A session whose folder stays busy this long is quarantined instead of retried. */
  persistentAfterMs?: number;
  clock?: () => number;
  logger?: Logger;
  /**
   * Whether this host runs the session (with the log on PostgreSQL: holds its lease). The
   * folders of sessions it does not run are left alone: another host has them. Default: all.
   */
  owns?: (sessionId: string) => boolean;
  /**
   * Whether this host holds the session's lease but is still writing its folder (see
   * SessionOwnership): work on it is retried later rather than skipped, and only the
   * takeover's own writes go ahead. Default: none.
   */
  takingOver?: (sessionId: string) => boolean;
}

/** Who is running work on a folder: the host's everyday components, or the takeover writing the folder of a session it has just leased. */
export type FolderWork = 'running' | 'takeover';

/** What became of work on one session's folder: skipped means the session was not active to begin with. */
export type GuardedOutcome<T> =
  | { status: 'done'; value: T }
  | { status: 'skipped' }
  | { status: 'quarantined'; error: unknown }
  | { status: 'retry-later'; error: unknown };

/**
 * The failure policy of everything that touches session folders (the folder writer, the
 * outbound poller, delivery, the sweep): one session's folder can cost that session a
 * retry or a quarantine, never the others their messages. A tampered or unreadable
 * folder is quarantined at once, with the evidence, in the log; a busy one is retried
 * until it has been busy too long; a full disk is retried for as long as it lasts and
 * never quarantines (the folder may sit on its own file system or quota, so the others
 * go on meanwhile).
 */
export class SessionGuard {
  private readonly busySince = new Map<string, number>();
  private readonly clock: () => number;

  constructor(
    private readonly core: Pick<Core, 'bus' | 'views'>,
    private readonly options: SessionGuardOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
  }

  /** Whether this host runs the session: touches its folder, runs its agent, delivers its messages. */
  owns(sessionId: string): boolean {
    return this.options.owns?.(sessionId) ?? true;
  }

  /** Whether the host may touch this session's folder now. */
  isActive(sessionId: string, by: FolderWork = 'running'): boolean {
    const mine = this.owns(sessionId) || (by === 'takeover' && this.takingOver(sessionId));
    return mine && this.core.views.sessions.get(sessionId)?.status === 'active';
  }

  private takingOver(sessionId: string): boolean {
    return this.options.takingOver?.(sessionId) ?? false;
  }

  /** Why work may not run on the folder now, or undefined when it may. */
  private refusal(sessionId: string, by: FolderWork): GuardedOutcome<never> | undefined {
    if (this.isActive(sessionId, by)) return undefined;
    // Its folder is being written here: the work waits for it instead of finding it missing.
    if (this.takingOver(sessionId)) return { status: 'retry-later', error: new Error(`session ${sessionId} is being taken over by this host`) };
    return { status: 'skipped' };
  }

  /** Runs work on a session's folder. Skipped when the session is not active (quarantined, unknown) or another host's; a failure is judged as the policy says. */
  run<T>(sessionId: string, component: string, evidence: Record<string, unknown>, work: () => T, by: FolderWork = 'running'): GuardedOutcome<T> {
    const refused = this.refusal(sessionId, by);
    if (refused) return refused;
    try {
      return this.succeeded(sessionId, work());
    } catch (error) {
      return this.judge(sessionId, component, evidence, error);
    }
  }

  /** run, for work that finishes later (in another thread): judged when it does. */
  async runAsync<T>(sessionId: string, component: string, evidence: Record<string, unknown>, work: () => Promise<T>, by: FolderWork = 'running'): Promise<GuardedOutcome<T>> {
    const refused = this.refusal(sessionId, by);
    if (refused) return refused;
    try {
      return this.succeeded(sessionId, await work());
    } catch (error) {
      return this.judge(sessionId, component, evidence, error);
    }
  }

  private succeeded<T>(sessionId: string, value: T): GuardedOutcome<T> {
    this.busySince.delete(sessionId);
    return { status: 'done', value };
  }

  private judge(sessionId: string, component: string, evidence: Record<string, unknown>, error: unknown): GuardedOutcome<never> {
    const failure = classifySessionFailure(error);
    if (failure === 'host') {
      this.options.logger?.warn({ err: error, event: 'SessionFolderStorageFailed', sessionId, component }, 'no space or I/O error in a session folder: retrying later');
      return { status: 'retry-later', error };
    }
    if (failure === 'busy') {
      const now = this.clock();
      const since = this.busySince.get(sessionId) ?? now;
      this.busySince.set(sessionId, since);
      if (now - since < (this.options.persistentAfterMs ?? 60_000)) {
        // An agent's commit holds the lock for moments, and a reader that does not wait meets it often: news only once it lasts.
        const level = now - since < BUSY_NEWS_AFTER_MS ? 'debug' : 'warn';
        this.options.logger?.[level]({ err: error, event: 'SessionFolderBusy', sessionId, component, busyForMs: now - since }, 'session folder busy: retrying later');
        return { status: 'retry-later', error };
      }
    }
    this.quarantine(sessionId, QUARANTINE_REASON[failure], component, error, evidence);
    return { status: 'quarantined', error };
  }

  /** Records the quarantine (and the agent's stop) in the log; a session already quarantined stays as it is. */
  quarantine(sessionId: string, reason: QuarantineReason, component: string, error: unknown, evidence: Record<string, unknown>): void {
    this.busySince.delete(sessionId);
    const detail = (error instanceof Error ? error.message : String(error)).slice(0, 2000);
    const code = (error as { code?: unknown } | null)?.code;
    const outcome = this.core.bus.dispatch(
      // Every quarantine is a new decision: the same folder can be quarantined again after a release.
      QuarantineSession.envelope(`quarantine:${sessionId}:${randomUUID()}`, { sessionId, reason, component, detail, evidence: { ...evidence, ...(typeof code === 'string' && { code }) } }),
    );
    if (outcome.status === 'accepted') this.options.logger?.error({ err: error, event: 'SessionQuarantined', sessionId, reason, component }, 'session folder quarantined');
  }
}
