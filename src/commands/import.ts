import { z } from 'zod';
import type { PendingEvent } from '../events/define';
import { SessionOpened } from '../events/inbound';
import { ApprovalAction } from '../events/admin';
import { QuestionImported, SessionClosed, SessionFolderAdopted } from '../events/import';
import { Id, type SessionMode } from '../events/primitives';
import type { Views } from '../projections';
import { unsafeIdRejection } from './agent-groups';
import { defineCommand, isRejection, reject } from './define';
import { RetryAbandonedMessage } from './retries';
import { approvalRequest } from './system-actions';

/** The mode a session had at the reference when no wiring says: no chat means agent-shared, a thread means per-thread. */
const modeFromBinding = (messagingGroupId: string | null, threadId: string | null): SessionMode =>
  messagingGroupId === null ? 'agent-shared' : threadId !== null ? 'per-thread' : 'shared';

/**
 * Adopts a session another host created (a NanoClaw import): the same id, agent group,
 * chat and thread. Its mode is the one the wiring of its chat to its agent group has, so
 * the next message from that chat joins it (an agent-shared session keeps the chat it was
 * opened from); without a wiring it follows from what it is bound to. A session the
 * reference had closed is adopted closed: kept, but no message joins it.
 */
export const ImportSession = defineCommand(
  'ImportSession',
  z.object({
    sessionId: Id,
    agentGroupId: Id,
    messagingGroupId: Id.nullable(),
    threadId: z.string().min(1).nullable(),
    agentProvider: z.string().min(1).nullable().default(null),
    /** The reference's sessions.status: `active`, else the session is adopted closed. */
    status: z.string().nullable().default(null),
  }),
  (views, command) => {
    const unsafe = unsafeIdRejection('session id', command.sessionId) ?? unsafeIdRejection('agent group id', command.agentGroupId);
    if (unsafe) return unsafe;
    if (views.sessions.get(command.sessionId)) return reject('session-exists', `session ${command.sessionId} already exists`);
    if (!views.agentGroups.get(command.agentGroupId)) return reject('unknown-agent-group', `no agent group ${command.agentGroupId}`);
    if (command.messagingGroupId !== null && !views.messagingGroups.get(command.messagingGroupId)) {
      return reject('unknown-messaging-group', `no messaging group ${command.messagingGroupId}`);
    }
    const { status, ...session } = command;
    const wiring = command.messagingGroupId === null ? undefined : views.wirings.get(command.messagingGroupId, command.agentGroupId);
    const sessionMode = wiring?.sessionMode ?? modeFromBinding(command.messagingGroupId, command.threadId);
    // Only a per-thread session is found by its thread.
    const events: PendingEvent[] = [SessionOpened.create({ ...session, threadId: sessionMode === 'per-thread' ? command.threadId : null, sessionMode })];
    if (status !== null && status !== 'active') events.push(SessionClosed.create({ sessionId: command.sessionId, reason: `imported from NanoClaw with status "${status}"` }));
    return events;
  },
);

/**
 * Records what an imported session's copied folder holds (the copy itself is the
 * adapter's). The rows the old agent held when NanoClaw stopped are retried as the sweep
 * retries any message a dead agent held.
 */
export const AdoptSessionFolder = defineCommand(
  'AdoptSessionFolder',
  SessionFolderAdopted.schema,
  (views: Views, command, context) => {
    const session = views.sessions.get(command.sessionId);
    if (!session) return reject('unknown-session', `no session ${command.sessionId}`);
    if (session.agent_group_id !== command.agentGroupId) {
      return reject('wrong-agent-group', `session ${command.sessionId} belongs to ${session.agent_group_id}, not ${command.agentGroupId}`);
    }
    const retries = command.inFlight.flatMap((messageId) => {
      const decision = RetryAbandonedMessage.decide(views, { sessionId: command.sessionId, messageId, incarnationId: null }, context);
      return isRejection(decision) ? [] : decision;
    });
    return [SessionFolderAdopted.create(command), ...retries];
  },
);

/** A pending approval NanoClaw had not seen decided: asked again here, under its own id, for exactly its payload. */
export const ImportApproval = defineCommand(
  'ImportApproval',
  z.object({ approvalId: Id, sessionId: Id, requestId: z.string().nullable(), action: z.string(), payload: z.record(z.string(), z.unknown()) }),
  (views, command, context) => {
    if (views.approvals.get(command.approvalId)) return reject('approval-exists', `approval ${command.approvalId} already exists`);
    const session = views.sessions.get(command.sessionId);
    if (!session) return reject('unknown-session', `no session ${command.sessionId}`);
    const action = ApprovalAction.safeParse(command.action);
    if (!action.success) return reject('unknown-action', `${JSON.stringify(command.action)} is not an action Switchyard approves (${ApprovalAction.options.join(', ')})`);
    const requested = approvalRequest(views, session, {
      approvalId: command.approvalId,
      outboundId: command.requestId ?? command.approvalId,
      action: action.data,
      fields: command.payload,
      issuedAt: context.issuedAt,
    });
    return 'reason' in requested ? reject(requested.reason, requested.explanation) : [requested];
  },
);

export const ImportQuestion = defineCommand('ImportQuestion', QuestionImported.schema, (views, command) => {
  if (views.questions.get(command.questionId) || views.approvals.get(command.questionId)) return reject('question-exists', `a card ${command.questionId} is already pending or answered`);
  if (!views.sessions.get(command.sessionId)) return reject('unknown-session', `no session ${command.sessionId}`);
  return [QuestionImported.create(command)];
});

export const importCommands = [ImportSession, AdoptSessionFolder, ImportApproval, ImportQuestion];
