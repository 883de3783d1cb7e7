import { hostname } from 'node:os';
import { Pool } from 'pg';
import type { Logger } from '../logger';

/** A lease not renewed for this long is free for another host to take. */
export const LEASE_TTL_MS = 5_000;
/** How often the held leases are renewed and the wanted ones tried. */
const RENEW_MS = 1_000;

/**
 * Takes the free, expired or own ones among the names and renews them, in one statement.
 * Expiry is the server's clock: the hosts' clocks need not agree.
 */
export const TAKE_OR_RENEW_LEASES = `INSERT INTO leases (name, holder, expires_at)
  SELECT name, $2, now() + $3 * interval '1 millisecond' FROM unnest($1::text[]) AS wanted(name)
  ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE leases.expires_at < now() OR leases.holder = excluded.holder
  RETURNING name`;

export const sessionLease = (sessionId: string) => `session:${sessionId}`;
/** The session a session lease's name names. */
export const sessionOfLease = (name: string) => name.slice(sessionLease('').length);
/** The lease on a channel's receiving connection (see ChannelConnection): one host at a time holds it. */
export const channelLease = (channelType: string) => `channel:${channelType}`;

export interface LeaseOptions {
  ttlMs?: number;
  renewMs?: number;
  logger?: Logger;
}

/**
 * The leases one host holds on PostgreSQL (migrations/postgres/0002): a session's lease says
 * which host materializes its folder, runs its agent, reads its outbox and delivers its
 * messages. Every tick the host asks for every name it wants (wanted()) and keeps those it
 * got; what another host holds and renews stays that host's. A host that stops deletes its
 * rows; one that dies keeps them until they expire, then the first host to ask takes them over.
 */
export class PostgresLeases {
  /** Names held as of the last successful tick. */
  private held = new Set<string>();
  /** Local time until which the last tick's leases are surely still ours (it started before the server extended them). */
  private validUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private acquired: (name: string) => void = () => undefined;
  private lost: (name: string) => void = () => undefined;
  private readonly ttlMs: number;

  private constructor(
    private readonly pool: Pool,
    readonly holder: string,
    private readonly wanted: () => readonly string[],
    private readonly options: LeaseOptions,
  ) {
    this.ttlMs = options.ttlMs ?? LEASE_TTL_MS;
  }

  /**
   * `installId` names the data directory (one host at a time runs on it): a host restarted
   * on it renews the leases it held at once instead of waiting for them to expire. `wanted`
   * names what this host would run: asked again on every tick.
   */
  static open(url: string, installId: string, wanted: () => readonly string[], options: LeaseOptions = {}): PostgresLeases {
    const pool = new Pool({ connectionString: url, max: 2 });
    pool.on('error', () => undefined);
    return new PostgresLeases(pool, `${hostname()}:${installId}`, wanted, options);
  }

  /** Whether this host holds the lease now. */
  holds(name: string): boolean {
    return Date.now() < this.validUntil && this.held.has(name);
  }

  /** The names held, sorted: for status. */
  list(): string[] {
    return Date.now() < this.validUntil ? [...this.held].sort() : [];
  }

  /** Told of each lease this host newly holds (after the tick that took it). */
  onAcquired(handler: (name: string) => void): void {
    this.acquired = handler;
  }

  /** Told of each lease this host no longer holds: taken by another host, or lapsed while renewals failed. */
  onLost(handler: (name: string) => void): void {
    this.lost = handler;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.options.renewMs ?? RENEW_MS);
    void this.tick();
  }

  /** Runs a tick now (one at a time: asked during one, another follows it). Resolves when it is done. */
  tick(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    this.ticking = this.renew().finally(() => {
      this.ticking = undefined;
      if (this.again) {
        this.again = false;
        void this.tick();
      }
    });
    return this.ticking;
  }

  /** Stops renewing and gives every lease back, so other hosts take them at once instead of at expiry. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    this.held = new Set();
    try {
      await this.pool.query('DELETE FROM leases WHERE holder = $1', [this.holder]);
    } catch (error) {
      this.options.logger?.warn({ err: error, event: 'LeasesNotReleased' }, 'could not release the leases: they expire instead');
    }
    await this.pool.end();
  }

  private async renew(): Promise<void> {
    const started = Date.now();
    const names = [...new Set(this.wanted())];
    let now: Set<string>;
    try {
      const result = await this.pool.query<{ name: string }>(TAKE_OR_RENEW_LEASES, [names, this.holder, this.ttlMs]);
      now = new Set(result.rows.map((row) => row.name));
    } catch (error) {
      this.options.logger?.warn({ err: error, event: 'LeaseRenewalFailed' }, 'could not renew the leases: they lapse unless the next try succeeds');
      // Past their expiry another host may hold them: whatever they guarded stops here, and starts again once they are back.
      if (Date.now() >= this.validUntil) this.change(new Set(), 'lease lapsed');
      return;
    }
    this.validUntil = started + this.ttlMs;
    this.change(now, 'lease lost to another host');
  }

  private change(now: Set<string>, lostAs: string): void {
    const previous = this.held;
    this.held = now;
    for (const name of previous) {
      if (now.has(name)) continue;
      this.options.logger?.warn({ event: 'LeaseLost', lease: name, holder: this.holder }, lostAs);
      this.tell(this.lost, name);
    }
    for (const name of now) {
      if (previous.has(name)) continue;
      this.options.logger?.info({ event: 'LeaseAcquired', lease: name, holder: this.holder }, 'lease acquired');
      this.tell(this.acquired, name);
    }
  }

  private tell(handler: (name: string) => void, name: string): void {
    try {
      handler(name);
    } catch (error) {
      this.options.logger?.error({ err: error, event: 'LeaseHandlerFailed', lease: name }, 'acting on a lease change failed');
    }
  }
}
