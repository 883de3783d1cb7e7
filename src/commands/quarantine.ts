import { z } from 'zod';
import { ContainerStopRequested } from '../events/containers';
import { Id } from '../events/primitives';
import { QuarantineReason, SessionQuarantined, SessionReleased } from '../events/quarantine';
import { LIVE_STATUSES } from '../projections/containers';
import { defineCommand, reject } from './define';

/** The status a quarantined session has in the sessions read model. */
export const QUARANTINED = 'quarantined';

/**
 * Sets a session folder aside when the host found it tampered with or unusable; its
 * agent is asked to stop in the same decision, so nothing keeps writing into a folder
 * the host no longer reads.
 */
export const QuarantineSession = defineCommand(
  'QuarantineSession',
  z.object({
    sessionId: Id,
    reason: QuarantineReason,
    component: z.string().min(1).max(100),
    detail: z.string().max(2000),
    evidence: z.record(z.string(), z.unknown()).default({}),
  }),
  (views, command) => {
    const session = views.sessions.get(command.sessionId);
    if (!session) return reject('unknown-session', `no session ${command.sessionId}`);
    if (session.status === QUARANTINED) return reject('already-quarantined', `session ${command.sessionId} is already quarantined`);
    const quarantined = SessionQuarantined.create({ ...command, agentGroupId: session.agent_group_id });
    const container = views.containers.get(command.sessionId);
    if (!container || !LIVE_STATUSES.has(container.status) || container.status === 'stopping') return [quarantined];
    return [
      quarantined,
      ContainerStopRequested.create({ sessionId: command.sessionId, incarnationId: container.incarnation_id, reason: 'quarantined', evidence: { reason: command.reason, detail: command.detail } }),
    ];
  },
);

/** The operator says the folder is fixed: the host writes it anew from the log and wakes the agent when work is due. */
export const ReleaseSession = defineCommand('ReleaseSession', z.object({ sessionId: Id }), (views, command) => {
  const session = views.sessions.get(command.sessionId);
  if (!session) return reject('unknown-session', `no session ${command.sessionId}`);
  if (session.status !== QUARANTINED) return reject('not-quarantined', `session ${command.sessionId} is not quarantined`);
  return [SessionReleased.create({ sessionId: session.id, agentGroupId: session.agent_group_id })];
});

export const quarantineCommands = [QuarantineSession, ReleaseSession];
