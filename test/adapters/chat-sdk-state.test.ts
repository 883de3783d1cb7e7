import { join } from 'node:path';
import { SqliteStateAdapter } from '../../src/adapters/channels/chat-sdk/sqlite-state';
import { useTempDir } from '../support/temp';

/** The Chat SDK's StateAdapter on a real SQLite file, with a clock the test moves. */
describe('SqliteStateAdapter', () => {
  const tempDir = useTempDir();
  let now = 1_000_000;
  const clock = () => now;
  const open = async () => {
    const state = new SqliteStateAdapter(join(tempDir(), 'chat-state.db'), clock);
    await state.connect();
    return state;
  };

  beforeEach(() => {
    now = 1_000_000;
  });

  it('keeps values, subscriptions and lists across a restart (the Telegram poller offset lives here)', async () => {
    const first = await open();
    await first.set('telegram:polling:default', { offset: 42, pending: [] });
    await first.subscribe('telegram:-1001');
    await first.appendToList('history', { n: 1 });
    await first.disconnect();

    const second = await open();
    expect(await second.get('telegram:polling:default')).toEqual({ offset: 42, pending: [] });
    expect(await second.isSubscribed('telegram:-1001')).toBe(true);
    expect(await second.getList('history')).toEqual([{ n: 1 }]);
    await second.unsubscribe('telegram:-1001');
    expect(await second.isSubscribed('telegram:-1001')).toBe(false);
    await second.disconnect();
  });

  it('expires values at their TTL; setIfNotExists takes a key only when absent or expired', async () => {
    const state = await open();
    await state.set('k', 'v', 1000);
    expect(await state.get('k')).toBe('v');
    expect(await state.setIfNotExists('k', 'other', 1000)).toBe(false);
    now += 1000;
    expect(await state.get('k')).toBeNull();
    expect(await state.setIfNotExists('k', 'other', 1000)).toBe(true);
    expect(await state.get('k')).toBe('other');
    await state.delete('k');
    expect(await state.get('k')).toBeNull();
    await state.set('forever', 1);
    now += 10 ** 9;
    expect(await state.get('forever')).toBe(1);
    await state.disconnect();
  });

  it('locks: one holder per thread, released and extended only with its token, free again once expired', async () => {
    const state = await open();
    const lock = (await state.acquireLock('t', 1000))!;
    expect(lock).toEqual({ threadId: 't', token: expect.any(String), expiresAt: now + 1000 });
    expect(await state.acquireLock('t', 1000)).toBeNull();
    await state.releaseLock({ ...lock, token: 'someone else' });
    expect(await state.acquireLock('t', 1000)).toBeNull();
    expect(await state.extendLock(lock, 5000)).toBe(true);
    expect(lock.expiresAt).toBe(now + 5000);
    now += 5000;
    expect(await state.extendLock(lock, 5000)).toBe(false);
    const next = (await state.acquireLock('t', 1000))!;
    expect(next.token).not.toBe(lock.token);
    await state.releaseLock(lock);
    expect(await state.acquireLock('t', 1000)).toBeNull();
    await state.forceReleaseLock('t');
    expect(await state.acquireLock('t', 1000)).not.toBeNull();
    await state.disconnect();
  });

  it('lists keep the newest maxLength items and expire as a whole; queues are FIFO, bounded, and drop stale entries', async () => {
    const state = await open();
    for (let n = 1; n <= 5; n++) await state.appendToList('l', n, { maxLength: 3, ttlMs: 1000 });
    expect(await state.getList('l')).toEqual([3, 4, 5]);
    now += 1000;
    expect(await state.getList('l')).toEqual([]);

    const entry = (n: number, ttl = 10_000) => ({ enqueuedAt: now, expiresAt: now + ttl, message: { id: `m-${n}` } as never });
    expect(await state.enqueue('t', entry(1), 2)).toBe(1);
    expect(await state.enqueue('t', entry(2, 10), 2)).toBe(2);
    expect(await state.enqueue('t', entry(3), 2)).toBe(2);
    expect(await state.queueDepth('t')).toBe(2);
    now += 10;
    expect(await state.dequeue('t')).toEqual(expect.objectContaining({ message: { id: 'm-3' } }));
    expect(await state.dequeue('t')).toBeNull();
    await state.disconnect();
  });

  it('says what to do when used before connect', async () => {
    const state = new SqliteStateAdapter(join(tempDir(), 'chat-state.db'));
    await expect(state.get('k')).rejects.toThrow(/is not connected \(call connect first\)/);
  });
});
