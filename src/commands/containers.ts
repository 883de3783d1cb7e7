import { z } from 'zod';
import {
  ContainerIdle,
  ContainerStarted,
  ContainerStartFailed,
  ContainerStarting,
  ContainerStopped,
  ContainerStopRequested,
  RuntimeKind,
  StopReason,
} from '../events/containers';
import { Id } from '../events/primitives';
import type { Views } from '../projections';
import type { AgentGroup } from '../projections/agent-groups';
import { LIVE_STATUSES, type ContainerRow, type ContainerStatus } from '../projections/containers';
import type { PendingEvent } from '../events/define';
import { defineCommand, newId, reject, type CommandContext, type Rejection } from './define';
import { QUARANTINED } from './quarantine';

/** The image a group's next agent starts in: the operator's choice, then the image built from its approved packages, then the host's default. */
export const agentImage = (views: Views, agentGroup: AgentGroup, defaultImage: string): string =>
  agentGroup.containerConfig.imageTag ?? views.images.current(agentGroup.id)?.tag ?? defaultImage;

/** What the host starts agents with: its configuration, not the agent's choice. */
export const WakeSettings = z.object({
  /** The runtime the host runs. */
  runtime: RuntimeKind,
  /** The image when the agent group names none in its container config. */
  defaultImage: z.string().min(1),
});
export type WakeSettings = z.output<typeof WakeSettings>;

/**
 * The events that start a container for a session able to run one: none when it already
 * has one starting, running, idle or stopping. Shared by WakeSession and by a routed
 * inbound message, which decides its session's wake in its own command.
 */
export function wakeEvents(
  views: Views,
  session: { id: string; agentGroupId: string; container: ContainerRow | undefined },
  agentGroup: AgentGroup,
  settings: WakeSettings & { wokenBy: string },
  context: CommandContext,
): PendingEvent[] {
  if (session.container && LIVE_STATUSES.has(session.container.status)) return [];
  return [
    ContainerStarting.create({
      sessionId: session.id,
      agentGroupId: session.agentGroupId,
      incarnationId: newId('inc', context),
      runtime: settings.runtime,
      image: agentImage(views, agentGroup, settings.defaultImage),
      wokenBy: settings.wokenBy,
    }),
  ];
}

/**
 * Starts a container for the session unless it has one starting, running, idle or
 * stopping. Two wakes that race are serialized by the log's write lock, so the second
 * sees the first one's ContainerStarting and starts nothing.
 */
export const WakeSession = defineCommand(
  'WakeSession',
  WakeSettings.extend({ sessionId: Id, wokenBy: z.string().min(1).max(200) }),
  (views, command, context) => {
    const session = views.sessions.get(command.sessionId);
    if (!session) return reject('unknown-session', `no session ${command.sessionId}`);
    const agentGroup = views.agentGroups.get(session.agent_group_id);
    if (!agentGroup) return reject('agent-group-deleted', `agent group ${session.agent_group_id} of session ${session.id} was deleted`);
    if (session.status === QUARANTINED) return reject('session-quarantined', `session ${session.id} is quarantined: release it first`);
    return wakeEvents(views, { id: session.id, agentGroupId: session.agent_group_id, container: views.containers.get(session.id) }, agentGroup, command, context);
  },
);

const Incarnation = z.object({ sessionId: Id, incarnationId: Id });

/** The session's current container if the report is about it and it is in one of the statuses; else why not. */
function current(views: Views, report: z.output<typeof Incarnation>, statuses: readonly ContainerStatus[]): ContainerRow | Rejection {
  const container = views.containers.get(report.sessionId);
  if (!container) return reject('no-container', `session ${report.sessionId} has never had a container`);
  if (container.incarnation_id !== report.incarnationId) {
    return reject('stale-incarnation', `incarnation ${report.incarnationId} is not the current one (${container.incarnation_id}) of session ${report.sessionId}`);
  }
  if (!statuses.includes(container.status)) {
    return reject('wrong-status', `the container of session ${report.sessionId} is ${container.status}, not ${statuses.join(' or ')}`);
  }
  return container;
}

const isRejected = (value: ContainerRow | Rejection): value is Rejection => 'rejected' in value;

export const RecordContainerStarted = defineCommand('RecordContainerStarted', Incarnation.extend({ runtimeId: z.string().min(1) }), (views, command) => {
  const container = current(views, command, ['starting']);
  return isRejected(container) ? container : [ContainerStarted.create(command)];
});

export const RecordContainerStartFailed = defineCommand(
  'RecordContainerStartFailed',
  Incarnation.extend({ phase: z.enum(['prepare', 'create', 'start']), error: z.string().max(4000) }),
  (views, command) => {
    const container = current(views, command, ['starting']);
    return isRejected(container) ? container : [ContainerStartFailed.create(command)];
  },
);

export const MarkContainerIdle = defineCommand('MarkContainerIdle', Incarnation.extend({ lastActivityAt: z.string() }), (views, command) => {
  const container = current(views, command, ['running']);
  return isRejected(container) ? container : [ContainerIdle.create(command)];
});

/**
 * Asks for the session's container to stop, with the reason and what it rests on. A
 * request about an older incarnation is refused: a freshly started container is never
 * stopped for what its predecessor did (or failed to do).
 */
export const StopContainer = defineCommand(
  'StopContainer',
  z.object({ sessionId: Id, incarnationId: Id.optional(), reason: StopReason, evidence: z.record(z.string(), z.unknown()).default({}) }),
  (views, command) => {
    if (!views.sessions.get(command.sessionId)) return reject('unknown-session', `no session ${command.sessionId}`);
    const container = views.containers.get(command.sessionId);
    if (!container || !LIVE_STATUSES.has(container.status)) return reject('not-running', `session ${command.sessionId} has no container running`);
    const live = current(views, { sessionId: command.sessionId, incarnationId: command.incarnationId ?? container.incarnation_id }, ['starting', 'running', 'idle']);
    if (isRejected(live)) return live;
    return [ContainerStopRequested.create({ sessionId: command.sessionId, incarnationId: live.incarnation_id, reason: command.reason, evidence: command.evidence })];
  },
);

/**
 * The runtime saw the container end. It stopped for the reason it was asked to stop, or
 * else it crashed; at start-up, one the runtime no longer has is recorded as reconciled.
 */
export const RecordContainerExit = defineCommand(
  'RecordContainerExit',
  Incarnation.extend({
    exitCode: z.number().int().nullable(),
    signal: z.string().nullable(),
    stderrTail: z.string().max(8000).default(''),
    reconciled: z.boolean().default(false),
  }),
  (views, command) => {
    const container = current(views, command, ['starting', 'running', 'idle', 'stopping']);
    if (isRejected(container)) return container;
    const reason = command.reconciled ? 'reconciled' : container.status === 'stopping' ? container.stop_reason! : 'crashed';
    const { reconciled: _reconciled, ...exit } = command;
    return [ContainerStopped.create({ ...exit, reason })];
  },
);

export const containerCommands = [WakeSession, RecordContainerStarted, RecordContainerStartFailed, MarkContainerIdle, StopContainer, RecordContainerExit];
