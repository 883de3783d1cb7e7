import type { Outcome } from '../../commands/bus';
import type { CommandEnvelope } from '../../commands/define';
import { RecordImageBuildFailed, RecordImageBuilt, StartImageBuild } from '../../commands/images';
import type { Core } from '../../core';
import { AgentImageRebuildRequested } from '../../events/admin';
import type { RecordedEvent } from '../../events/define';
import { ImageBuildStarted } from '../../events/images';
import type { Logger } from '../../logger';
import type { Reactor } from '../reactor';
import type { GroupImageResult, GroupPackages } from './group-image';
import { SerialQueues } from './serial-queues';

/** Builds what a group's agents run in from its packages: a docker image, or the process runtime's package folder. */
export type GroupBuilder = (packages: GroupPackages, logger: Logger | undefined) => Promise<GroupImageResult>;

export interface ImageBuildsOptions {
  logger?: Logger;
}

/**
 * Builds an agent group's image when the log asks for one (an approval, `groups rebuild`):
 * records the start, runs the builder, records the outcome. Builds of one group run in
 * turn; each reads the group's configuration when it starts, so the last one has the
 * latest packages. The builder is the runtime's: a docker image, or the process runtime's
 * npm package folder.
 */
export class ImageBuilds implements Reactor {
  readonly name = 'image-builds';
  readonly handles: ReadonlySet<string> = new Set([AgentImageRebuildRequested.type]);
  private readonly queues = new SerialQueues((error, agentGroupId) => this.options.logger?.error({ err: error, agentGroupId }, 'image build failed to run'));
  private stopped = false;

  constructor(
    private readonly core: Pick<Core, 'bus' | 'views' | 'store'>,
    private readonly builder: GroupBuilder,
    private readonly options: ImageBuildsOptions = {},
  ) {}

  handleBatch(events: readonly RecordedEvent[]): void {
    for (const event of events) {
      if (!AgentImageRebuildRequested.is(event)) continue;
      const { agentGroupId, approvalId } = event.data;
      // The command id is the request's position: a request seen again after a restart starts nothing twice.
      const start = StartImageBuild.envelope(
        `image-build:${event.position}`,
        { agentGroupId, trigger: approvalId ?? event.metadata.actor },
        { causationId: event.metadata.commandId, correlationId: event.metadata.correlationId },
      );
      this.queues.enqueue(agentGroupId, () => this.build(start));
    }
  }

  /**
   * At start-up, before any event is handled: a build the last host left open will never
   * finish. It is recorded as failed and started again, for what asked for it.
   */
  recover(): void {
    for (const build of this.core.views.images.building()) {
      this.dispatch(RecordImageBuildFailed.envelope(`image-build-interrupted:${build.build_id}`, { buildId: build.build_id, reason: 'the host stopped during the build; it is built again', durationMs: null }));
      const restart = StartImageBuild.envelope(`image-build-restart:${build.build_id}`, { agentGroupId: build.agent_group_id, trigger: build.trigger });
      this.queues.enqueue(build.agent_group_id, () => this.build(restart));
    }
  }

  /** Resolves once every build queued so far has finished. */
  async settled(): Promise<void> {
    await this.queues.settled();
  }

  /** No outcome is recorded after this: a build still running stays open in the log, and the next host's recover() takes it up. */
  stop(): void {
    this.stopped = true;
  }

  private async build(start: CommandEnvelope): Promise<void> {
    if (this.stopped) return;
    const outcome = this.dispatch(start);
    if (outcome.status !== 'accepted') {
      this.options.logger?.warn({ event: 'ImageBuildNotStarted', code: outcome.code, reason: outcome.message }, 'image build not started');
      return;
    }
    const ref = outcome.events.find((event) => event.type === ImageBuildStarted.type)!;
    const { buildId, agentGroupId, packages } = this.core.store.readAt(ref.position)!.data as { buildId: string; agentGroupId: string; packages: GroupPackages };
    // A request seen again after a restart: its build already finished (or was failed by recover()).
    if (this.core.views.images.get(buildId)?.status !== 'building') return;
    const startedAt = Date.now();
    const log = this.options.logger?.child({ buildId, agentGroupId });
    log?.info({ event: 'ImageBuildStarted', packages }, 'building the agent group image');
    const result: GroupImageResult = await this.builder(packages, log).catch(
      (error: unknown) => ({ ok: false as const, reason: error instanceof Error ? error.message : String(error), logTail: '' }),
    );
    if (this.stopped) return;
    const durationMs = Date.now() - startedAt;
    if (result.ok) {
      const { tag, hash, sizeBytes, resolved, built } = result;
      this.dispatch(RecordImageBuilt.envelope(`image-built:${buildId}`, { buildId, tag, hash, sizeBytes, resolved, durationMs, reused: !built }));
      log?.info({ event: 'ImageBuilt', tag, reused: !built, durationMs }, 'agent group image ready');
    } else {
      this.dispatch(
        RecordImageBuildFailed.envelope(`image-build-failed:${buildId}`, { buildId, reason: result.reason.slice(0, 4000), logTail: result.logTail.slice(-8000), durationMs, packagesRefused: result.packagesRefused ?? false }),
      );
      log?.warn({ event: 'ImageBuildFailed', reason: result.reason, durationMs }, 'agent group image build failed');
    }
  }

  private dispatch(envelope: CommandEnvelope): Outcome {
    return this.core.bus.dispatch(envelope);
  }
}
