import { CancelTask, PauseTask, ResumeTask, ScheduleNextOccurrence } from '../../src/commands/tasks';
import { SessionOpened } from '../../src/events/inbound';
import { TaskCancelled, TaskPaused, TaskResumed, TaskScheduled } from '../../src/events/tasks';
import { given, idFor } from '../support/decider';
import { agentGroupCreated } from '../support/fixtures';

// The decider tests run at 2026-11-24T12:00:00Z (test/support/decider.ts).
const sessionOf = (sessionId: string) =>
  SessionOpened.create({ sessionId, agentGroupId: 'ag-andy', messagingGroupId: null, threadId: null, sessionMode: 'per-thread', agentProvider: null });
const scene = [agentGroupCreated('ag-andy'), sessionOf('sess-1'), sessionOf('sess-2')];
const occurrence = (messageId: string, previousMessageId: string | null = null, sessionId = 'sess-1', taskId = 'task-1') =>
  TaskScheduled.create({
    sessionId, messageId, taskId, prompt: 'the hourly report', script: null, processAfter: '2026-11-24T11:00:00.000Z', recurrence: '0 * * * *',
    platformId: null, channelType: null, threadId: null, previousMessageId, paused: false,
  });
const change = { sessionId: 'sess-1', taskId: 'task-1', messageId: 'occ-2' };
const recurring = [...scene, occurrence('occ-1'), occurrence('occ-2', 'occ-1')];

describe('PauseTask, ResumeTask, CancelTask (spec §5)', () => {
  it('acts on the latest occurrence, the only one that can still be pending', () => {
    given(...recurring).when(PauseTask, { taskId: 'task-1' }).then(TaskPaused.create(change));
    given(...recurring, TaskPaused.create(change)).when(ResumeTask, { taskId: 'task-1' }).then(TaskResumed.create(change));
    given(...recurring).when(CancelTask, { taskId: 'task-1', sessionId: 'sess-1' }).then(TaskCancelled.create(change));
    given(...recurring, TaskPaused.create(change)).when(CancelTask, { taskId: 'task-1' }).then(TaskCancelled.create(change));
  });

  it('moves only between the statuses the spec allows', () => {
    given(...recurring, TaskPaused.create(change)).when(PauseTask, { taskId: 'task-1' }).thenRejects('task-paused');
    given(...recurring).when(ResumeTask, { taskId: 'task-1' }).thenRejects('task-active');
    given(...recurring, TaskCancelled.create(change)).when(CancelTask, { taskId: 'task-1' }).thenRejects('task-cancelled');
    given(...recurring, TaskCancelled.create(change)).when(ResumeTask, { taskId: 'task-1' }).thenRejects('task-cancelled');
  });

  it('refuses a task it does not know, and one whose id two sessions share unless the session is named', () => {
    given(...recurring).when(CancelTask, { taskId: 'task-404' }).thenRejects('unknown-task');
    given(...recurring).when(CancelTask, { taskId: 'task-1', sessionId: 'sess-2' }).thenRejects('unknown-task');
    const both = [...recurring, occurrence('occ-b', null, 'sess-2')];
    given(...both).when(CancelTask, { taskId: 'task-1' }).thenRejects('ambiguous-task');
    given(...both).when(CancelTask, { taskId: 'task-1', sessionId: 'sess-2' }).then(TaskCancelled.create({ sessionId: 'sess-2', taskId: 'task-1', messageId: 'occ-b' }));
  });
});

describe('ScheduleNextOccurrence of a paused or cancelled task', () => {
  it('never re-arms a cancelled task', () => {
    given(...recurring, TaskCancelled.create(change)).when(ScheduleNextOccurrence, { sessionId: 'sess-1', previousMessageId: 'occ-2' }).thenRejects('task-cancelled');
  });

  it('re-arms a paused task paused: its next occurrence waits for resume_task instead of running', () => {
    given(...recurring, TaskPaused.create(change))
      .when(ScheduleNextOccurrence, { sessionId: 'sess-1', previousMessageId: 'occ-2' })
      .then(expect.objectContaining({ type: 'TaskScheduled', data: expect.objectContaining({ messageId: idFor('task'), previousMessageId: 'occ-2', paused: true }) }));
  });
});
