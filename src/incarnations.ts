import type { Core } from './core';
import { containerEvents, ContainerStarted, ContainerStarting, ContainerStartFailed, ContainerStopped, ContainerStopRequested, type StopReason } from './events/containers';
import { sessionStream } from './events/inbound';

/** One start of a session's agent, from its ContainerStarting to how it ended. */
export interface Incarnation {
  incarnationId: string;
  runtime: string;
  image: string;
  wokenBy: string;
  startingAt: string;
  runtimeId: string | null;
  /** Why it never ran, when it did not start. */
  startFailed: string | null;
  /** What the host asked for when it decided to stop it, and on what evidence. */
  stopRequested: { reason: StopReason; evidence: Record<string, unknown> } | null;
  stoppedAt: string | null;
  stopReason: StopReason | null;
  exitCode: number | null;
  signal: string | null;
  stderrTail: string | null;
}

const CONTAINER_TYPES = containerEvents.map((definition) => definition.type);

/**
 * Every incarnation of a session's agent, oldest first, read from the session's stream:
 * the containers view keeps only the latest, and "why did it keep restarting?" needs all.
 */
export function incarnationsOf(core: Core, sessionId: string): Incarnation[] {
  const byId = new Map<string, Incarnation>();
  for (const event of core.store.readAll({ stream: sessionStream(sessionId), type: CONTAINER_TYPES })) {
    if (ContainerStarting.is(event)) {
      const { incarnationId, runtime, image, wokenBy } = event.data;
      byId.set(incarnationId, {
        incarnationId, runtime, image, wokenBy, startingAt: event.metadata.recordedAt, runtimeId: null, startFailed: null,
        stopRequested: null, stoppedAt: null, stopReason: null, exitCode: null, signal: null, stderrTail: null,
      });
      continue;
    }
    const incarnation = byId.get((event.data as { incarnationId: string }).incarnationId);
    if (!incarnation) continue;
    if (ContainerStarted.is(event)) incarnation.runtimeId = event.data.runtimeId;
    else if (ContainerStartFailed.is(event)) incarnation.startFailed = `${event.data.phase}: ${event.data.error}`;
    else if (ContainerStopRequested.is(event)) incarnation.stopRequested = { reason: event.data.reason, evidence: event.data.evidence };
    else if (ContainerStopped.is(event)) {
      Object.assign(incarnation, { stoppedAt: event.metadata.recordedAt, stopReason: event.data.reason, exitCode: event.data.exitCode, signal: event.data.signal, stderrTail: event.data.stderrTail || null });
    }
  }
  return [...byId.values()];
}
