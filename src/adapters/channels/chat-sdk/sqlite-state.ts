import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Lock, QueueEntry, StateAdapter } from 'chat';
import { openDatabase } from '../../../db/sqlite';

/**
 * The Chat SDK's state (its dedupe keys, thread locks, message queues, subscriptions, the
 * Telegram poller's update offset, the cards a click is matched against) in one SQLite
 * file of the data dir, `chat-state.db`, next to the log but not in it: it is the SDK's
 * working memory, not a record anyone audits. Durable across restarts, unlike the SDK's
 * memory adapter, and with no server to run, unlike its Redis one.
 *
 * better-sqlite3 is synchronous, so every method is atomic on its own: a check-and-set
 * (setIfNotExists, acquireLock) cannot interleave with another call of this process, and
 * SQLite's write lock serializes it against other processes on the same file.
 * Expiry is lazy: a read past `expires_at` sees nothing, and the row is swept then.
 */

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER);
CREATE TABLE IF NOT EXISTS list_items (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS list_items_key ON list_items (key, id);
CREATE TABLE IF NOT EXISTS list_expiry (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS locks (thread_id TEXT PRIMARY KEY, token TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS queue_items (id INTEGER PRIMARY KEY AUTOINCREMENT, thread_id TEXT NOT NULL, entry TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS queue_items_thread ON queue_items (thread_id, id);
CREATE TABLE IF NOT EXISTS subscriptions (thread_id TEXT PRIMARY KEY);
`;

/** The file's name inside the data dir. */
export const CHAT_STATE_FILE = 'chat-state.db';

export class SqliteStateAdapter implements StateAdapter {
  private db: Database.Database | undefined;

  /** `now` is injectable so expiry can be tested without waiting. */
  constructor(
    private readonly path: string,
    private readonly now: () => number = Date.now,
  ) {}

  async connect(): Promise<void> {
    if (this.db) return;
    // NORMAL, not FULL: losing the last update offset on power loss only replays updates the host dedupes.
    const db = openDatabase(this.path, { synchronous: 'NORMAL' });
    db.exec(SCHEMA);
    this.db = db;
  }

  async disconnect(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }

  async get<T = unknown>(key: string): Promise<T | null> {
    const row = this.open().prepare('SELECT value, expires_at FROM kv WHERE key = ?').get(key) as { value: string; expires_at: number | null } | undefined;
    if (!row) return null;
    if (this.expired(row.expires_at)) {
      this.open().prepare('DELETE FROM kv WHERE key = ? AND expires_at = ?').run(key, row.expires_at);
      return null;
    }
    return JSON.parse(row.value) as T;
  }

  async set<T = unknown>(key: string, value: T, ttlMs?: number): Promise<void> {
    this.open().prepare('INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?, ?, ?)').run(key, JSON.stringify(value), this.expiry(ttlMs));
  }

  async setIfNotExists(key: string, value: unknown, ttlMs?: number): Promise<boolean> {
    const db = this.open();
    return db.transaction(() => {
      db.prepare('DELETE FROM kv WHERE key = ? AND expires_at IS NOT NULL AND expires_at <= ?').run(key, this.now());
      return db.prepare('INSERT OR IGNORE INTO kv (key, value, expires_at) VALUES (?, ?, ?)').run(key, JSON.stringify(value), this.expiry(ttlMs)).changes === 1;
    }).immediate();
  }

  async delete(key: string): Promise<void> {
    this.open().prepare('DELETE FROM kv WHERE key = ?').run(key);
  }

  async appendToList(key: string, value: unknown, options: { maxLength?: number; ttlMs?: number } = {}): Promise<void> {
    const db = this.open();
    db.transaction(() => {
      this.sweepList(key);
      db.prepare('INSERT INTO list_items (key, value) VALUES (?, ?)').run(key, JSON.stringify(value));
      if (options.maxLength !== undefined) {
        // Keep the newest maxLength items.
        db.prepare('DELETE FROM list_items WHERE key = ? AND id NOT IN (SELECT id FROM list_items WHERE key = ? ORDER BY id DESC LIMIT ?)').run(key, key, Math.max(0, options.maxLength));
      }
      if (options.ttlMs !== undefined) db.prepare('INSERT OR REPLACE INTO list_expiry (key, expires_at) VALUES (?, ?)').run(key, this.now() + options.ttlMs);
    }).immediate();
  }

  async getList<T = unknown>(key: string): Promise<T[]> {
    this.sweepList(key);
    const rows = this.open().prepare('SELECT value FROM list_items WHERE key = ? ORDER BY id').all(key) as { value: string }[];
    return rows.map((row) => JSON.parse(row.value) as T);
  }

  async acquireLock(threadId: string, ttlMs: number): Promise<Lock | null> {
    const db = this.open();
    return db.transaction((): Lock | null => {
      const now = this.now();
      db.prepare('DELETE FROM locks WHERE thread_id = ? AND expires_at <= ?').run(threadId, now);
      const lock = { threadId, token: randomUUID(), expiresAt: now + ttlMs };
      const taken = db.prepare('INSERT OR IGNORE INTO locks (thread_id, token, expires_at) VALUES (?, ?, ?)').run(threadId, lock.token, lock.expiresAt).changes === 1;
      return taken ? lock : null;
    }).immediate();
  }

  async releaseLock(lock: Lock): Promise<void> {
    this.open().prepare('DELETE FROM locks WHERE thread_id = ? AND token = ?').run(lock.threadId, lock.token);
  }

  async extendLock(lock: Lock, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const expiresAt = now + ttlMs;
    // Only a lock still held with this token: an expired or taken-over one is never revived.
    const extended = this.open().prepare('UPDATE locks SET expires_at = ? WHERE thread_id = ? AND token = ? AND expires_at > ?').run(expiresAt, lock.threadId, lock.token, now).changes === 1;
    if (extended) lock.expiresAt = expiresAt;
    return extended;
  }

  async forceReleaseLock(threadId: string): Promise<void> {
    this.open().prepare('DELETE FROM locks WHERE thread_id = ?').run(threadId);
  }

  async enqueue(threadId: string, entry: QueueEntry, maxSize: number): Promise<number> {
    const db = this.open();
    return db.transaction(() => {
      db.prepare('INSERT INTO queue_items (thread_id, entry, expires_at) VALUES (?, ?, ?)').run(threadId, JSON.stringify(entry), entry.expiresAt);
      // Past maxSize the oldest entries give way, as in the SDK's own adapters.
      db.prepare('DELETE FROM queue_items WHERE thread_id = ? AND id NOT IN (SELECT id FROM queue_items WHERE thread_id = ? ORDER BY id DESC LIMIT ?)').run(threadId, threadId, Math.max(1, maxSize));
      return this.depth(threadId);
    }).immediate();
  }

  async dequeue(threadId: string): Promise<QueueEntry | null> {
    const db = this.open();
    return db.transaction((): QueueEntry | null => {
      db.prepare('DELETE FROM queue_items WHERE thread_id = ? AND expires_at <= ?').run(threadId, this.now());
      const row = db.prepare('SELECT id, entry FROM queue_items WHERE thread_id = ? ORDER BY id LIMIT 1').get(threadId) as { id: number; entry: string } | undefined;
      if (!row) return null;
      db.prepare('DELETE FROM queue_items WHERE id = ?').run(row.id);
      // The SDK rehydrates the serialized message itself.
      return JSON.parse(row.entry) as QueueEntry;
    }).immediate();
  }

  async queueDepth(threadId: string): Promise<number> {
    return this.depth(threadId);
  }

  async subscribe(threadId: string): Promise<void> {
    this.open().prepare('INSERT OR IGNORE INTO subscriptions (thread_id) VALUES (?)').run(threadId);
  }

  async unsubscribe(threadId: string): Promise<void> {
    this.open().prepare('DELETE FROM subscriptions WHERE thread_id = ?').run(threadId);
  }

  async isSubscribed(threadId: string): Promise<boolean> {
    return this.open().prepare('SELECT 1 FROM subscriptions WHERE thread_id = ?').get(threadId) !== undefined;
  }

  private depth(threadId: string): number {
    const row = this.open().prepare('SELECT COUNT(*) AS n FROM queue_items WHERE thread_id = ? AND expires_at > ?').get(threadId, this.now()) as { n: number };
    return row.n;
  }

  /** Drops a list whose TTL has passed. */
  private sweepList(key: string): void {
    const db = this.open();
    const row = db.prepare('SELECT expires_at FROM list_expiry WHERE key = ?').get(key) as { expires_at: number } | undefined;
    if (!row || !this.expired(row.expires_at)) return;
    db.prepare('DELETE FROM list_items WHERE key = ?').run(key);
    db.prepare('DELETE FROM list_expiry WHERE key = ?').run(key);
  }

  private expiry(ttlMs: number | undefined): number | null {
    return ttlMs === undefined || ttlMs <= 0 ? null : this.now() + ttlMs;
  }

  private expired(expiresAt: number | null): boolean {
    return expiresAt !== null && expiresAt <= this.now();
  }

  private open(): Database.Database {
    if (!this.db) throw new Error(`chat state ${this.path} is not connected (call connect first)`);
    return this.db;
  }
}
