/**
 * Which sessions this host runs when the log is on PostgreSQL: those whose lease it holds
 * and whose folder it has written since taking the lease (a takeover re-materializes the
 * folder from the log, see session-takeover.ts). In between, the session is being taken
 * over here: its folder may be missing or half written, which is neither an agent's
 * tampering nor another host's business, so work on it waits (SessionGuard's takingOver).
 */
export class SessionOwnership {
  private readonly materialized = new Set<string>();

  constructor(private readonly holdsLease: (sessionId: string) => boolean) {}

  owns(sessionId: string): boolean {
    return this.holdsLease(sessionId) && this.materialized.has(sessionId);
  }

  takingOver(sessionId: string): boolean {
    return this.holdsLease(sessionId) && !this.materialized.has(sessionId);
  }

  /** The takeover has written the session's folder: from now on this host runs it. */
  materializedHere(sessionId: string): void {
    this.materialized.add(sessionId);
  }

  /** The lease is gone: should it come back, the folder is written again before anything runs. */
  released(sessionId: string): void {
    this.materialized.delete(sessionId);
  }
}
