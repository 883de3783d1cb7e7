import { mkdirSync } from 'node:fs';
import { acquireLease } from './adapters/lease';
import { receiveInbound } from './commands/inbound';
import type { Config } from './config';
import { openDataDir, type Core } from './core';
import type { ChannelAdapter, InboundReport } from './adapters/channels/channel';
import { DeliveryService } from './adapters/delivery';
import { DestinationsFileReactor } from './adapters/destinations-file';
import { OutboundPoller } from './adapters/outbound-poller';
import { ReactorRunner } from './adapters/reactor';
import { SessionFolderReactor } from './adapters/session-folder';
import type { Logger } from './logger';

export interface HostOptions {
  channels: readonly ChannelAdapter[];
  logger: Logger;
}

/**
 * The composition root: the event store and bus, the reactors that materialize session
 * folders and destinations files, the outbound poller, delivery, and the channels.
 */
export class Host {
  private constructor(
    readonly core: Core,
    readonly reactors: readonly ReactorRunner[],
    readonly poller: OutboundPoller,
    readonly delivery: DeliveryService,
    readonly channels: readonly ChannelAdapter[],
    private readonly logger: Logger,
    private readonly releaseLease: () => void,
  ) {}

  static async start(config: Config, options: HostOptions): Promise<Host> {
    mkdirSync(config.dataDir, { recursive: true });
    const releaseLease = acquireLease(config.dataDir);
    try {
      return await Host.assemble(config, options, releaseLease);
    } catch (error) {
      releaseLease();
      throw error;
    }
  }

  private static async assemble(config: Config, options: HostOptions, releaseLease: () => void): Promise<Host> {
    const logger = options.logger;
    const core = openDataDir(config.dataDir, { synchronous: config.synchronous, logger });
    const component = (name: string) => logger.child({ component: name });
    const reactors = [
      new ReactorRunner(core.store, new SessionFolderReactor(config.dataDir, core.views, { logger: component('session-folder') }), { logger }),
      new ReactorRunner(core.store, new DestinationsFileReactor(config.dataDir, core.views, { logger: component('destinations-file') }), { logger }),
    ];
    for (const reactor of reactors) reactor.start();
    const poller = new OutboundPoller(core, config.dataDir, { intervalMs: config.pollIntervalMs, logger: component('outbound-poller') });
    const delivery = new DeliveryService(core, config.dataDir, new Map(options.channels.map((c) => [c.channelType, c])), {
      backoffMs: config.retryBackoffMs,
      logger: component('delivery'),
    });
    const host = new Host(core, reactors, poller, delivery, options.channels, logger, releaseLease);
    for (const channel of options.channels) {
      await channel.setup({ conversations: host.conversations(channel.channelType), onInbound: (report) => host.receive(report) });
    }
    delivery.start();
    poller.start();
    logger.info({ event: 'HostStarted', dataDir: config.dataDir, channels: options.channels.map((c) => c.channelType), position: core.store.lastPosition() }, 'host started');
    return host;
  }

  /** Records one platform message; resolves once it is routed or dropped in the log. */
  async receive(report: InboundReport): Promise<void> {
    const outcome = this.core.bus.dispatch(
      receiveInbound({
        channelType: report.channelType,
        platformId: report.platformId,
        threadId: report.threadId,
        messageId: report.message.id,
        kind: report.message.kind,
        content: report.message.content,
        timestamp: report.message.timestamp,
        ...(report.chat?.name !== undefined && { chatName: report.chat.name }),
        ...(report.chat?.isGroup !== undefined && { isGroup: report.chat.isGroup }),
      }),
    );
    if (outcome.status === 'rejected') throw new Error(`${outcome.code}: ${outcome.message}`);
    // Show the chat the agent is on it: best effort, and never holding up the platform's answer.
    if (outcome.events.some((event) => event.type === 'InboundRouted')) {
      const channel = this.channels.find((c) => c.channelType === report.channelType);
      void channel?.setTyping?.(report.platformId, report.threadId).catch((error: unknown) => this.logger.debug({ err: error }, 'typing indicator failed'));
    }
  }

  /** Waits until every reactor has handled the log up to now. */
  async settled(): Promise<void> {
    await Promise.all(this.reactors.map((reactor) => reactor.caughtUp()));
  }

  /** Graceful: no new work, deliveries in flight record their outcome, then the store closes. */
  async stop(): Promise<void> {
    this.poller.stop();
    for (const channel of this.channels) await channel.teardown();
    await this.delivery.stop();
    for (const reactor of this.reactors) reactor.stop();
    this.core.close();
    this.releaseLease();
    this.logger.info({ event: 'HostStopped' }, 'host stopped');
  }

  private conversations(channelType: string) {
    return this.core.views.wirings.list().flatMap((wiring) => {
      const chat = this.core.views.messagingGroups.get(wiring.messagingGroupId);
      if (!chat || chat.channel_type !== channelType) return [];
      return [{
        platformId: chat.platform_id,
        agentGroupId: wiring.agentGroupId,
        triggerPattern: wiring.triggerRules.pattern ?? null,
        requiresTrigger: wiring.triggerRules.requiresTrigger,
        sessionMode: wiring.sessionMode,
      }];
    });
  }
}
