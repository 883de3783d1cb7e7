import { z } from 'zod';
import { defineEvent } from './define';
import { sessionStream } from './inbound';
import { Id } from './primitives';

/** Where agents run: a container, a child process, or somewhere the host does not manage. */
export const RuntimeKind = z.enum(['docker', 'process', 'external']);
export type RuntimeKind = z.infer<typeof RuntimeKind>;

/** Why a session's container was (or is to be) stopped. */
export const StopReason = z.enum([
  'idle-timeout',
  'runtime-ceiling',
  'heartbeat-lost',
  'approval-applied',
  /** The agent group's image was rebuilt (ImageBuilt): the next start runs the new one. */
  'image-rebuilt',
  'operator',
  'host-shutdown',
  /** The host found the session folder tampered with or unusable (SessionQuarantined says how). */
  'quarantined',
  /** Exited without being asked: a crash, or a runner that gave up. */
  'crashed',
  /** At start-up the runtime no longer had it (the host was down when it ended). */
  'reconciled',
]);
export type StopReason = z.infer<typeof StopReason>;

export const ContainerStarting = defineEvent({
  type: 'ContainerStarting',
  version: 1,
  schema: z.object({
    sessionId: Id,
    agentGroupId: Id,
    /** Unique per start: reports about an older start are recognised and ignored. */
    incarnationId: Id,
    runtime: RuntimeKind,
    image: z.string(),
    /** What woke the session: a routed message, a due scheduled message, the sweep… */
    wokenBy: z.string(),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

export const ContainerStarted = defineEvent({
  type: 'ContainerStarted',
  version: 1,
  schema: z.object({ sessionId: Id, incarnationId: Id, runtimeId: z.string().min(1) }),
  stream: (data) => sessionStream(data.sessionId),
});

export const ContainerStartFailed = defineEvent({
  type: 'ContainerStartFailed',
  version: 1,
  schema: z.object({
    sessionId: Id,
    incarnationId: Id,
    phase: z.enum(['prepare', 'create', 'start']),
    error: z.string(),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

/** The agent has no message left to work on; it keeps running until its idle timeout. */
export const ContainerIdle = defineEvent({
  type: 'ContainerIdle',
  version: 1,
  schema: z.object({ sessionId: Id, incarnationId: Id, lastActivityAt: z.string() }),
  stream: (data) => sessionStream(data.sessionId),
});

export const ContainerStopRequested = defineEvent({
  type: 'ContainerStopRequested',
  version: 1,
  schema: z.object({
    sessionId: Id,
    incarnationId: Id,
    reason: StopReason,
    /** What the decision rested on: heartbeat age, idle time, stuck message ids… */
    evidence: z.record(z.string(), z.unknown()),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

export const ContainerStopped = defineEvent({
  type: 'ContainerStopped',
  version: 1,
  schema: z.object({
    sessionId: Id,
    incarnationId: Id,
    reason: StopReason,
    exitCode: z.number().int().nullable(),
    signal: z.string().nullable(),
    /** The last lines the agent wrote to stderr: the first thing to read after a crash. */
    stderrTail: z.string(),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

export const containerEvents = [ContainerStarting, ContainerStarted, ContainerStartFailed, ContainerIdle, ContainerStopRequested, ContainerStopped];
