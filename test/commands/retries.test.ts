import { ExpireUnclaimedMessage, RetryAbandonedMessage } from '../../src/commands/retries';
import { ScheduleNextOccurrence } from '../../src/commands/tasks';
import { ContainerStarted, ContainerStarting, ContainerStopped } from '../../src/events/containers';
import { SessionOpened } from '../../src/events/inbound';
import { MessageExpired, MessageFailed, MessageRetryScheduled } from '../../src/events/retries';
import { TaskScheduled } from '../../src/events/tasks';
import { given, idFor } from '../support/decider';
import { agentGroupCreated } from '../support/fixtures';

// The decider tests run at 2026-11-24T12:00:00Z (test/support/decider.ts).
const session = [
  agentGroupCreated('ag-andy'),
  SessionOpened.create({ sessionId: 'sess-1', agentGroupId: 'ag-andy', messagingGroupId: null, threadId: null, sessionMode: 'agent-shared', agentProvider: null }),
  ContainerStarting.create({ sessionId: 'sess-1', agentGroupId: 'ag-andy', incarnationId: 'inc-1', runtime: 'process', image: 'img', wokenBy: 'x' }),
  ContainerStarted.create({ sessionId: 'sess-1', incarnationId: 'inc-1', runtimeId: 'rt-1' }),
  ContainerStopped.create({ sessionId: 'sess-1', incarnationId: 'inc-1', reason: 'crashed', exitCode: 1, signal: null, stderrTail: '' }),
];
const retried = (attempt: number, dueAt = '2026-11-24T11:00:00.000Z') =>
  MessageRetryScheduled.create({ sessionId: 'sess-1', messageId: 'msg-1', attempt, dueAt, incarnationId: `inc-${attempt}`, reason: 'container stopped (crashed)' });
const abandoned = { sessionId: 'sess-1', messageId: 'msg-1', incarnationId: 'inc-1' };
const task = (messageId: string, recurrence: string | null) =>
  TaskScheduled.create({
    sessionId: 'sess-1', messageId, taskId: 'task-1', prompt: 'the hourly report', script: null, processAfter: '2026-11-24T11:00:00.000Z', recurrence,
    platformId: '-1001', channelType: 'telegram', threadId: null, previousMessageId: null, paused: false,
  });

describe('RetryAbandonedMessage', () => {
  it('schedules the first retry 5 s after the death, with the dead container and how it ended', () => {
    given(...session)
      .when(RetryAbandonedMessage, abandoned)
      .then(MessageRetryScheduled.create({ ...abandoned, attempt: 1, dueAt: '2026-11-24T12:00:05.000Z', reason: 'container stopped (crashed)' }));
  });

  it('counts the tries from the log, doubling the delay each time', () => {
    given(...session, retried(1), retried(2), retried(3))
      .when(RetryAbandonedMessage, abandoned)
      .then(expect.objectContaining({ type: 'MessageRetryScheduled', data: expect.objectContaining({ attempt: 4, dueAt: '2026-11-24T12:00:40.000Z' }) }));
  });

  it('fails the message at its 5th run without an answer, and then decides nothing more', () => {
    const four = [retried(1), retried(2), retried(3), retried(4)];
    given(...session, ...four)
      .when(RetryAbandonedMessage, abandoned)
      .then(MessageFailed.create({ ...abandoned, attempts: 5, reason: 'container stopped (crashed)' }));
    given(...session, ...four, MessageFailed.create({ ...abandoned, attempts: 5, reason: 'x' })).when(RetryAbandonedMessage, abandoned).thenRejects('already-failed');
  });

  it('does not retry again a retry that is not yet due', () => {
    given(...session, retried(1, '2026-11-24T12:00:03.000Z')).when(RetryAbandonedMessage, abandoned).thenRejects('retry-not-due');
  });

  it('still schedules the next occurrence of a recurring task whose occurrence failed', () => {
    given(...session, task('task-occ-1', '0 * * * *'), ...[1, 2, 3, 4].map((n) => MessageRetryScheduled.create({ ...abandoned, messageId: 'task-occ-1', attempt: n, dueAt: '2026-11-24T11:00:00.000Z', reason: 'x' })))
      .when(RetryAbandonedMessage, { ...abandoned, messageId: 'task-occ-1' })
      .then(
        expect.objectContaining({ type: 'MessageFailed' }),
        expect.objectContaining({ type: 'TaskScheduled', data: expect.objectContaining({ messageId: idFor('task'), prompt: 'the hourly report', previousMessageId: 'task-occ-1', processAfter: '2026-11-24T13:00:00.000Z' }) }),
      );
  });
});

describe('ExpireUnclaimedMessage', () => {
  const orphan = { sessionId: 'sess-1', messageId: 'qresp-1', kind: 'system' as const, ttlMs: 600_000 };

  it('given a session, when its system row has waited unclaimed past its time, then it expires, with how long it waited and the agent group', () => {
    given(...session)
      .when(ExpireUnclaimedMessage, { ...orphan, dueAt: '2026-11-24T11:49:00.000Z' })
      .then(MessageExpired.create({ ...orphan, agentGroupId: 'ag-andy', dueAt: '2026-11-24T11:49:00.000Z', unclaimedMs: 660_000 }));
  });

  it('given a session, when its system row has waited exactly its time, then it expires', () => {
    given(...session).when(ExpireUnclaimedMessage, { ...orphan, dueAt: '2026-11-24T11:50:00.000Z' }).then(expect.objectContaining({ type: 'MessageExpired' }));
  });

  it('refuses a row still within its time: an agent may yet take it', () => {
    given(...session).when(ExpireUnclaimedMessage, { ...orphan, dueAt: '2026-11-24T11:55:00.000Z' }).thenRejects('not-expired');
  });

  it('refuses an unknown session', () => {
    given().when(ExpireUnclaimedMessage, { ...orphan, dueAt: '2026-11-24T11:00:00.000Z' }).thenRejects('unknown-session');
  });

  it('expires only system rows: a chat message is for the agent to answer, however late', () => {
    expect(() => given(...session).when(ExpireUnclaimedMessage, { ...orphan, kind: 'chat' as 'system', dueAt: '2026-11-24T11:00:00.000Z' })).toThrow(/kind/);
  });
});

describe('ScheduleNextOccurrence', () => {
  it('re-arms from the task the log scheduled, with its prompt, recurrence and chat', () => {
    given(...session, task('task-occ-1', '0 * * * *'))
      .when(ScheduleNextOccurrence, { sessionId: 'sess-1', previousMessageId: 'task-occ-1' })
      .then(
        TaskScheduled.create({
          sessionId: 'sess-1', messageId: idFor('task'), taskId: 'task-1', prompt: 'the hourly report', script: null, processAfter: '2026-11-24T13:00:00.000Z',
          recurrence: '0 * * * *', platformId: '-1001', channelType: 'telegram', threadId: null, previousMessageId: 'task-occ-1', paused: false,
        }),
      );
  });

  it('re-arms nothing the log does not know as a recurring task', () => {
    given(...session).when(ScheduleNextOccurrence, { sessionId: 'sess-1', previousMessageId: 'forged' }).thenRejects('not-recurring');
    given(...session, task('task-once', null)).when(ScheduleNextOccurrence, { sessionId: 'sess-1', previousMessageId: 'task-once' }).thenRejects('not-recurring');
  });

  it('re-arms an occurrence once, whichever path saw it end first', () => {
    const followed = TaskScheduled.create({ ...task('task-occ-2', '0 * * * *').data, previousMessageId: 'task-occ-1' });
    given(...session, task('task-occ-1', '0 * * * *'), followed).when(ScheduleNextOccurrence, { sessionId: 'sess-1', previousMessageId: 'task-occ-1' }).thenRejects('already-rearmed');
  });
});
