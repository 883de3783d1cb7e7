import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { CommandIdConflictError, type Outcome } from '../../commands/bus';
import type { CommandEnvelope } from '../../commands/define';
import { RecordContainerExit, RecordContainerStarted, RecordContainerStartFailed, StopContainer, WakeSession } from '../../commands/containers';
import type { Core } from '../../core';
import { AgentMessageDelivered } from '../../events/agent-messages';
import { AgentNotified } from '../../events/admin';
import { QuestionAnswered } from '../../events/questions';
import { ContainerStarting, ContainerStopped, ContainerStopRequested } from '../../events/containers';
import type { RecordedEvent } from '../../events/define';
import { InboundRouted } from '../../events/inbound';
import { TaskScheduled } from '../../events/tasks';
import type { Logger } from '../../logger';
import { LIVE_STATUSES } from '../../projections/containers';
import { buildDestinations, writeDestinationsFile } from '../destinations-file';
import type { Reactor } from '../reactor';
import { groupDir, initSessionFolder, sessionDir } from '../session-db';
import { agentLogPath } from './agent-log';
import type { ContainerExit, ContainerRuntime, ContainerSpec } from './runtime';
import { SerialQueues } from './serial-queues';

/** Stops that exist to restart the agent with something new. */
const RESTART_REASONS: ReadonlySet<string> = new Set(['approval-applied', 'image-rebuilt']);

export interface ContainerLifecycleOptions {
  dataDir: string;
  /** Labels this install's containers, so it never touches another install's. */
  installId: string;
  runtime: ContainerRuntime;
  defaultImage: string;
  /** Environment every agent gets on top of the session contract (its provider, its key…). */
  agentEnv: Record<string, string>;
  /**
   * The log's position when the host started: messages routed before it are history, and
   * whether they still need an agent is the sweep's call (it reads what is pending).
   */
  liveFrom: number;
  logger?: Logger;
  /** Whether this host runs the session's agent (with the log on PostgreSQL: holds its lease). Default: all. */
  owns?: (sessionId: string) => boolean;
}

/** The session an event of the lifecycle concerns. */
const sessionOf = (event: RecordedEvent): string => (AgentMessageDelivered.is(event) ? event.data.targetSessionId : (event.data as { sessionId: string }).sessionId);

/**
 * Carries out the container lifecycle the log decides: wakes a session when work arrives
 * for it, starts the container a ContainerStarting names, stops the one a
 * ContainerStopRequested names, and reports every start, failure and exit back as a
 * command. Each action first checks that the event still describes the session's
 * current container, so replaying history after a restart starts and stops nothing.
 */
export class ContainerLifecycle implements Reactor {
  readonly name = 'containers';
  readonly handles: ReadonlySet<string> = new Set(
    [InboundRouted, AgentMessageDelivered, TaskScheduled, AgentNotified, QuestionAnswered, ContainerStarting, ContainerStopRequested, ContainerStopped].map((d) => d.type),
  );
  /** Per session, the chain of runtime actions in flight: a stop never overtakes its start. */
  private readonly queues = new SerialQueues((error, sessionId) => this.options.logger?.error({ err: error, sessionId }, 'container action failed'));
  /** Starts decided for sessions another host ran at the time: the one to carry out if this host takes the session over. */
  private readonly startsElsewhere = new Map<string, z.output<typeof ContainerStarting.schema>>();
  /** The incarnations this host has set out to run, until they exit: a takeover must not count them as another host's. */
  private readonly startedHere = new Set<string>();

  constructor(
    private readonly core: Pick<Core, 'bus' | 'views'>,
    private readonly options: ContainerLifecycleOptions,
  ) {
    options.runtime.onExit((exit) => this.recordExit(exit));
  }

  /** The burst's wakes go to the log as one group commit: a burst of inbound messages costs one fsync here, not one each. */
  handleBatch(events: readonly RecordedEvent[]): void {
    const wakes: CommandEnvelope[] = [];
    // A session whose agent is already live needs no wake: WakeSession would decide nothing, at the cost of a commit.
    // A routed message usually finds it so, because its own command decided the wake.
    const wake = (sessionId: string, wokenBy: string, cause: RecordedEvent) => {
      if (!this.hasLiveContainer(sessionId)) wakes.push(this.wakeCommand(sessionId, wokenBy, cause));
    };
    for (const event of events) {
      if (!this.owns(sessionOf(event))) {
        if (ContainerStarting.is(event)) this.startsElsewhere.set(event.data.sessionId, event.data);
        continue;
      }
      if (event.position <= this.options.liveFrom && !ContainerStarting.is(event) && !ContainerStopRequested.is(event)) continue;
      if (InboundRouted.is(event)) wake(event.data.sessionId, 'inbound', event);
      else if (AgentMessageDelivered.is(event)) wake(event.data.targetSessionId, 'agent-message', event);
      // A task due now wakes at once; a later one is woken by the sweep when it falls due.
      else if (TaskScheduled.is(event) && Date.parse(event.data.processAfter) <= Date.now()) wake(event.data.sessionId, 'task', event);
      // A notice (an approval applied, rejected or expired…) is a message like any other: the agent reads it now.
      else if (AgentNotified.is(event)) wake(event.data.sessionId, 'notice', event);
      else if (QuestionAnswered.is(event)) wake(event.data.sessionId, 'question-answered', event);
      // Stopped so that an approved change or a rebuilt image takes effect: the next start has it, and the notice waits for it.
      else if (ContainerStopped.is(event) && RESTART_REASONS.has(event.data.reason)) wake(event.data.sessionId, event.data.reason, event);
      else if (ContainerStarting.is(event)) this.startHere(event.data);
      else if (ContainerStopRequested.is(event)) this.enqueue(event.data.sessionId, () => this.stop(event.data));
    }
    if (wakes.length === 0) return;
    // A wake that failed fails the burst, as a single dispatch did: the runner retries it, and command ids make the others' repeat harmless.
    const failed = this.core.bus.dispatchBatch(wakes).find((result) => result.status === 'failed');
    if (failed?.status === 'failed') throw failed.error;
  }

  private owns(sessionId: string): boolean {
    return this.options.owns?.(sessionId) ?? true;
  }

  /**
   * A session this host has just taken over: a start decided while nobody ran it is carried
   * out; an agent the log thinks alive elsewhere (on a host that died with it) is recorded
   * as gone, and the session woken here, to read what is pending in its new folder.
   */
  takeOver(sessionId: string): void {
    const container = this.core.views.containers.get(sessionId);
    const starting = this.startsElsewhere.get(sessionId);
    this.startsElsewhere.delete(sessionId);
    // Its start was seen once this host held the lease already (a session it opened itself): under way or running here.
    if (container && this.startedHere.has(container.incarnation_id)) return;
    if (container?.status === 'starting') {
      // Decided while another host ran the session: carried out here. Not seen yet: the reactor starts it when it is.
      if (starting?.incarnationId === container.incarnation_id) this.startHere(starting);
      return;
    }
    if (container && LIVE_STATUSES.has(container.status)) {
      this.dispatch(RecordContainerExit.envelope(`exit:${container.incarnation_id}`, { sessionId, incarnationId: container.incarnation_id, exitCode: null, signal: null, reconciled: true }));
    }
    this.wake(sessionId, 'takeover');
  }

  /**
   * A session whose lease went to another host (this one lapsed): its agent here must not
   * run on beside the one started there. Its exit is recorded only if the log still names it.
   */
  release(sessionId: string): void {
    this.enqueue(sessionId, async () => {
      for (const running of await this.options.runtime.list(this.options.installId)) {
        if (running.sessionId === sessionId) await this.options.runtime.stop(running.runtimeId);
      }
    });
  }

  private hasLiveContainer(sessionId: string): boolean {
    const container = this.core.views.containers.get(sessionId);
    return container !== undefined && LIVE_STATUSES.has(container.status);
  }

  /** Asks the log for a container; the command id ties it to the event that caused it, so a replay wakes nothing twice. */
  wake(sessionId: string, wokenBy: string, cause?: RecordedEvent): Outcome {
    return this.dispatch(this.wakeCommand(sessionId, wokenBy, cause));
  }

  private wakeCommand(sessionId: string, wokenBy: string, cause?: RecordedEvent): CommandEnvelope {
    const commandId = cause ? `wake:${sessionId}:${cause.position}` : `wake:${sessionId}:${wokenBy}:${Date.now()}`;
    return WakeSession.envelope(
      commandId,
      { sessionId, wokenBy, runtime: this.options.runtime.kind, defaultImage: this.options.defaultImage },
      cause ? { causationId: cause.metadata.commandId, correlationId: cause.metadata.correlationId } : {},
    );
  }

  /**
   * At start-up, before any event is handled: every container the log thinks is alive is
   * either still there (adopted, so its exit is seen) or recorded as gone; containers of
   * this install the log does not know are stopped. Nothing says an agent the host does
   * not watch is gone: its incarnation stays as the log has it, and the sweep judges it.
   */
  async reconcile(): Promise<void> {
    if (!this.options.runtime.watchesAgents) return;
    const running = new Map((await this.options.runtime.list(this.options.installId)).map((c) => [c.incarnationId, c]));
    for (const container of this.core.views.containers.listLive()) {
      // Another host's agents are that host's to reconcile.
      if (!this.owns(container.session_id)) continue;
      const found = running.get(container.incarnation_id);
      running.delete(container.incarnation_id);
      const ids = { sessionId: container.session_id, incarnationId: container.incarnation_id };
      if (!found) {
        this.dispatch(RecordContainerExit.envelope(`exit:${container.incarnation_id}`, { ...ids, exitCode: null, signal: null, reconciled: true }));
        continue;
      }
      this.options.runtime.adopt?.(found);
      if (container.status === 'starting') this.dispatch(RecordContainerStarted.envelope(`started:${container.incarnation_id}`, { ...ids, runtimeId: found.runtimeId }));
    }
    for (const stranger of running.values()) {
      this.options.logger?.warn({ event: 'UnknownContainerStopped', runtimeId: stranger.runtimeId, sessionId: stranger.sessionId }, 'stopping a container the log does not know');
      await this.options.runtime.stop(stranger.runtimeId);
    }
  }

  /** At shutdown: stops every live container (recorded as host-shutdown) and waits for their exits to be recorded. */
  async stopAll(): Promise<void> {
    const reason = 'host-shutdown';
    for (const container of this.core.views.containers.listLive()) {
      if (!this.owns(container.session_id)) continue;
      const outcome = this.dispatch(StopContainer.envelope(`stop:${container.incarnation_id}:${reason}`, { sessionId: container.session_id, reason }));
      if (outcome.status === 'accepted') this.enqueue(container.session_id, () => this.stop({ sessionId: container.session_id, incarnationId: container.incarnation_id }));
    }
    await this.settled();
  }

  /** Resolves once every runtime action queued so far has finished. */
  async settled(): Promise<void> {
    await this.queues.settled();
  }

  private startHere(starting: z.output<typeof ContainerStarting.schema>): void {
    this.startedHere.add(starting.incarnationId);
    this.enqueue(starting.sessionId, () => this.start(starting));
  }

  private enqueue(sessionId: string, action: () => Promise<void>): void {
    this.queues.enqueue(sessionId, action);
  }

  private async start(starting: z.output<typeof ContainerStarting.schema>): Promise<void> {
    const { sessionId, incarnationId } = starting;
    const container = this.core.views.containers.get(sessionId);
    if (container?.incarnation_id !== incarnationId || container.status !== 'starting') {
      this.startedHere.delete(incarnationId);
      return;
    }
    const failed = (phase: 'prepare' | 'start', error: unknown) => {
      this.startedHere.delete(incarnationId);
      this.dispatch(RecordContainerStartFailed.envelope(`start-failed:${incarnationId}`, { sessionId, incarnationId, phase, error: error instanceof Error ? error.message : String(error) }));
    };
    let spec: ContainerSpec;
    try {
      spec = this.prepare(sessionId, incarnationId, container.image);
    } catch (error) {
      failed('prepare', error);
      return;
    }
    let runtimeId: string;
    try {
      ({ runtimeId } = await this.options.runtime.start(spec));
    } catch (error) {
      failed('start', error);
      return;
    }
    const outcome = this.dispatch(RecordContainerStarted.envelope(`started:${incarnationId}`, { sessionId, incarnationId, runtimeId }));
    // Asked to stop while it was starting (the stop request found no runtime id to act on),
    // or no longer the session's agent at all: either way this process must not run on.
    const now = this.core.views.containers.get(sessionId);
    if (outcome.status === 'rejected' && (now?.status === 'stopping' || now?.incarnation_id !== incarnationId)) await this.stopAgent({ sessionId, incarnationId, runtimeId });
  }

  /** The session folder, the group folder and the destinations file, written before every start (spec §7). */
  private prepare(sessionId: string, incarnationId: string, image: string): ContainerSpec {
    const session = this.core.views.sessions.get(sessionId)!;
    const agentGroup = this.core.views.agentGroups.get(session.agent_group_id);
    if (!agentGroup) throw new Error(`agent group ${session.agent_group_id} was deleted`);
    const folder = sessionDir(this.options.dataDir, session.agent_group_id, sessionId);
    initSessionFolder(folder);
    writeDestinationsFile(folder, buildDestinations(this.core.views, session.agent_group_id));
    const group = groupDir(this.options.dataDir, agentGroup.folder);
    mkdirSync(group, { recursive: true });
    const global = join(this.options.dataDir, 'global');
    mkdirSync(global, { recursive: true });
    return {
      installId: this.options.installId,
      sessionId,
      agentGroupId: session.agent_group_id,
      incarnationId,
      sessionDir: folder,
      groupDir: group,
      globalDir: global,
      logFile: agentLogPath(this.options.dataDir, sessionId),
      image,
      // Read at each start, not fixed at the wake: `groups update --network` applies from the next start.
      network: agentGroup.containerConfig.network,
      env: {
        ...this.options.agentEnv,
        NANOCLAW_ASSISTANT_NAME: agentGroup.name,
        NANOCLAW_AGENT_GROUP_NAME: agentGroup.name,
        NANOCLAW_IS_ADMIN: agentGroup.isAdmin ? '1' : '0',
        ...(agentGroup.agentProvider && { SWITCHYARD_AGENT_PROVIDER: agentGroup.agentProvider }),
        // The reference's contract; its env values may be secrets, so only the agent's environment carries them.
        ...(Object.keys(agentGroup.containerConfig.mcpServers).length > 0 && { NANOCLAW_MCP_SERVERS: JSON.stringify(agentGroup.containerConfig.mcpServers) }),
      },
    };
  }

  private async stop({ sessionId, incarnationId }: { sessionId: string; incarnationId: string }): Promise<void> {
    const container = this.core.views.containers.get(sessionId);
    if (container?.incarnation_id !== incarnationId || container.status !== 'stopping' || !container.runtime_id) return;
    await this.stopAgent({ sessionId, incarnationId, runtimeId: container.runtime_id });
  }

  /** An agent the host does not watch has stopped once asked, as far as the host can tell: no exit would ever come. */
  private async stopAgent({ sessionId, incarnationId, runtimeId }: { sessionId: string; incarnationId: string; runtimeId: string }): Promise<void> {
    await this.options.runtime.stop(runtimeId);
    if (!this.options.runtime.watchesAgents) this.recordExit({ runtimeId, sessionId, incarnationId, exitCode: null, signal: null, stderrTail: '' });
  }

  private recordExit(exit: ContainerExit): void {
    const { sessionId, incarnationId, exitCode, signal, stderrTail } = exit;
    this.startedHere.delete(incarnationId);
    const log = { event: 'ContainerExited', sessionId, incarnationId, exitCode, signal };
    let outcome: Outcome;
    try {
      outcome = this.dispatch(RecordContainerExit.envelope(`exit:${incarnationId}`, { sessionId, incarnationId, exitCode, signal, stderrTail: stderrTail.slice(-8000) }));
    } catch (error) {
      // Its end was recorded already, as reconciled (taken over, or found gone): the process's own exit adds nothing.
      if (!(error instanceof CommandIdConflictError)) throw error;
      this.options.logger?.debug(log, 'exit of an agent whose end was recorded already');
      return;
    }
    if (outcome.status === 'accepted') this.options.logger?.info(log, 'container exited');
    else this.options.logger?.debug({ ...log, code: outcome.code }, 'exit of a container that was no longer current');
  }

  private dispatch(envelope: CommandEnvelope): Outcome {
    return this.core.bus.dispatch(envelope);
  }
}
