import { SessionGuard, classifySessionFailure } from '../../src/adapters/session-guard';
import { UnsafePathError } from '../../src/adapters/session-db';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { receiveInbound } from '../../src/commands/inbound';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { openCore, type Core } from '../../src/core';

const coded = (code: string) => Object.assign(new Error(code), { code });

describe('SessionGuard: what a failure in a session folder costs', () => {
  let core: Core;
  let sessionId: string;
  let now = 0;
  let guard: SessionGuard;

  beforeEach(() => {
    core = openCore(':memory:', { synchronous: 'NORMAL' });
    core.bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
    core.bus.dispatch(RegisterMessagingGroup.envelope('mg', { messagingGroupId: 'mg-fam', channelType: 'webhook', platformId: 'fam' }));
    core.bus.dispatch(WireChannel.envelope('wire', { messagingGroupId: 'mg-fam', agentGroupId: 'ag-andy' }));
    core.bus.dispatch(receiveInbound({ channelType: 'webhook', platformId: 'fam', messageId: 'm-1', content: { text: 'hi' }, timestamp: '2026-12-01T00:00:00.000Z' }));
    sessionId = core.views.sessions.list()[0]!.id;
    now = 0;
    guard = new SessionGuard(core, { persistentAfterMs: 60_000, clock: () => now });
  });
  afterEach(() => core.close());

  const failWith = (error: unknown) => guard.run(sessionId, 'test', { step: 'x' }, () => {
    throw error;
  });
  const status = () => core.views.sessions.get(sessionId)!;

  it.each([
    [new UnsafePathError('outbox is a symlink'), 'tampered'],
    [coded('ELOOP'), 'tampered'],
    [coded('SQLITE_NOTADB'), 'unreadable'],
    [coded('SQLITE_CORRUPT'), 'unreadable'],
    [coded('SQLITE_ERROR'), 'unreadable'],
    [coded('SQLITE_CONSTRAINT_UNIQUE'), 'unreadable'],
    [coded('SQLITE_BUSY'), 'busy'],
    [coded('SQLITE_LOCKED'), 'busy'],
    [coded('ENOSPC'), 'host'],
    [coded('SQLITE_FULL'), 'host'],
    [coded('SQLITE_IOERR_WRITE'), 'host'],
  ])('%s is %s', (error, kind) => {
    expect(classifySessionFailure(error)).toBe(kind);
  });

  it('quarantines a tampered folder at once, with the evidence, and skips it afterwards', () => {
    expect(failWith(new UnsafePathError('outbox is a symlink')).status).toBe('quarantined');
    expect(status()).toEqual(expect.objectContaining({ status: 'quarantined', quarantine_reason: 'unsafe-path', quarantine_component: 'test', quarantine_detail: 'outbox is a symlink' }));
    let ran = false;
    expect(guard.run(sessionId, 'test', {}, () => (ran = true)).status).toBe('skipped');
    expect(ran).toBe(false);
  });

  it('retries a busy folder, and quarantines it once it has stayed busy too long', () => {
    expect(failWith(coded('SQLITE_BUSY')).status).toBe('retry-later');
    now = 59_000;
    expect(failWith(coded('SQLITE_BUSY')).status).toBe('retry-later');
    now = 61_000;
    expect(failWith(coded('SQLITE_BUSY')).status).toBe('quarantined');
    expect(status().quarantine_reason).toBe('persistent-failure');
  });

  it('a success ends a busy spell: the clock starts again at the next one', () => {
    failWith(coded('SQLITE_BUSY'));
    now = 59_000;
    expect(guard.run(sessionId, 'test', {}, () => 1)).toEqual({ status: 'done', value: 1 });
    now = 61_000;
    expect(failWith(coded('SQLITE_BUSY')).status).toBe('retry-later');
  });

  it('a full disk is retried for as long as it lasts and never quarantines: it is no agent’s doing', () => {
    for (now = 0; now < 600_000; now += 60_000) expect(failWith(coded('SQLITE_FULL')).status).toBe('retry-later');
    expect(status().status).toBe('active');
  });
});
