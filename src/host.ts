import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { DockerRuntime } from './adapters/containers/docker';
import { ExternalRuntime } from './adapters/containers/external';
import { buildGroupImage } from './adapters/containers/group-image';
import { ImageBuilds, type GroupBuilder } from './adapters/containers/image-builds';
import { buildPackagePrefix } from './adapters/containers/package-prefix';
import { buildAgentImage } from './adapters/containers/image';
import { ContainerLifecycle } from './adapters/containers/lifecycle';
import { ProcessRuntime } from './adapters/containers/process';
import type { ContainerRuntime } from './adapters/containers/runtime';
import { Sweep } from './adapters/containers/sweep';
import { ApprovalCards } from './adapters/approval-cards';
import { AnswerCard } from './commands/questions';
import { ApprovalDecisionRefused } from './events/admin';
import { QuestionAnswerRefused } from './events/questions';
import { logDecisions } from './adapters/decision-log';
import { removeHostFacts, writeHostFacts } from './adapters/host-file';
import { acquireLease } from './adapters/lease';
import { channelLease, PostgresLeases, sessionLease, sessionOfLease } from './adapters/pg-leases';
import { redactUrl } from './adapters/pg-replica';
import { SessionOwnership } from './adapters/session-ownership';
import { takeOverSession } from './adapters/session-takeover';
import { SessionOpened } from './events/inbound';
import { writeFileAtomic } from './adapters/session-db';
import { packageRoot } from './db/package-root';
import { GroupCommitter } from './commands/group-commit';
import { dispatchInboundGrouped, type InboundRepeat } from './commands/inbound';
import type { Config } from './config';
import { openDataDir, type Core } from './core';
import type { ActionReport, ChannelAdapter, InboundReport } from './adapters/channels/channel';
import { DeliveryService } from './adapters/delivery';
import { DestinationsFileReactor } from './adapters/destinations-file';
import { OutboundPoller } from './adapters/outbound-poller';
import { ReactorRunner } from './adapters/reactor';
import { SessionFolderReactor } from './adapters/session-folder';
import { WorkerInboundWriter } from './adapters/inbound-writer';
import { SessionGuard } from './adapters/session-guard';
import { TypingNotices } from './adapters/typing';
import type { Logger } from './logger';

export interface HostOptions {
  channels: readonly ChannelAdapter[];
  logger: Logger;
  /** The container runtime; by default the one the configuration names (docker when an engine answers). */
  runtime?: ContainerRuntime;
}

/** The compiled container-side agent runner, which the process runtime runs directly. */
export const RUNNER_PATH = join(packageRoot(__dirname), 'dist', 'docker', 'runner', 'main.js');

/** This install's id, made once per data directory: it labels its containers. */
function installId(dataDir: string): string {
  const path = join(dataDir, 'install-id');
  if (!existsSync(path)) writeFileAtomic(path, randomUUID());
  return readFileSync(path, 'utf8').trim();
}

/** What the agent runner gets on top of the session contract: its provider, and that provider's key if the host has one. */
function agentEnv(config: Config): Record<string, string> {
  const forwarded = ['ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL', 'SWITCHYARD_ANTHROPIC_MODEL', 'SWITCHYARD_RUNNER_POLL_MS', 'SWITCHYARD_AGENT_MAX_TOOL_ROUNDS', 'SWITCHYARD_HISTORY_MAX_TURNS', 'SWITCHYARD_HISTORY_MAX_CHARS'].flatMap((name) =>
    process.env[name] === undefined ? [] : [[name, process.env[name]!] as const],
  );
  return { SWITCHYARD_AGENT_PROVIDER: config.agentProvider, ...Object.fromEntries(forwarded) };
}

/** How long an inbound message waits for others to share its commit, and how many it waits for at most. */
const INBOUND_GATHER_MS = 2;
const INBOUND_GATHER_MAX = 128;

/** How often host.json's channel connections are looked at again. */
const HOST_FACTS_INTERVAL_MS = 15_000;
const LEASES_FACTS_INTERVAL_MS = 1_000;

/** What a start has set going, undone last first: by a start that fails half-way, and by stop. */
class Teardown {
  private readonly steps: { name: string; undo: () => unknown }[] = [];

  add(name: string, undo: () => unknown): void {
    this.steps.push({ name, undo });
  }

  /** Runs every step, last added first, each even when one before it failed; returns the failures. */
  async run(logger: Logger): Promise<unknown[]> {
    const failures: unknown[] = [];
    for (const { name, undo } of this.steps.splice(0).reverse()) {
      try {
        await undo();
      } catch (error) {
        failures.push(error);
        logger.error({ err: error, event: 'StopFailed', step: name }, `stopping the ${name} failed`);
      }
    }
    return failures;
  }
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
    readonly containers: ContainerLifecycle,
    readonly runtime: ContainerRuntime,
    private readonly logger: Logger,
    private readonly teardown: Teardown,
    /** With the log on PostgreSQL: the sessions this host runs. */
    readonly leases?: PostgresLeases,
  ) {
    this.inbound = new GroupCommitter(core.bus, { maxWaitMs: INBOUND_GATHER_MS, maxCommands: INBOUND_GATHER_MAX });
  }

  /**
   * Every channel's inbound messages go through here: the ones that arrive within a couple
   * of milliseconds of each other (or the first 128) share one transaction and one fsync,
   * and each request is answered once its own command committed.
   */
  private readonly inbound: GroupCommitter;

  /** One typing notice per chat per few seconds, off the inbound path. */
  private readonly typing = new TypingNotices((error: unknown) => this.logger.debug({ err: error, event: 'TypingNoticeFailed' }, 'typing indicator failed'));

  /**
   * All or nothing: when any part fails to start, what had started is stopped again (the
   * lease last) before the error is thrown, so no half-started host keeps running.
   */
  static async start(config: Config, options: HostOptions): Promise<Host> {
    mkdirSync(config.dataDir, { recursive: true });
    const teardown = new Teardown();
    teardown.add('lease', acquireLease(config.dataDir));
    try {
      return await Host.assemble(config, options, teardown);
    } catch (error) {
      await teardown.run(options.logger);
      throw error;
    }
  }

  /** Starts each part and registers its stop; the stops run in reverse, so the order here is also stop's. */
  private static async assemble(config: Config, options: HostOptions, teardown: Teardown): Promise<Host> {
    const logger = options.logger;
    const core = openDataDir(config.dataDir, { synchronous: config.synchronous, logger, verifyDecided: false, ...(config.store !== undefined && { store: config.store }) });
    teardown.add('store', () => core.close());
    if (core.replica) teardown.add('replica follower', await core.replica.follow());
    const component = (name: string) => logger.child({ component: name });
    // With the log on PostgreSQL, a host runs only the sessions whose lease it holds, and receives on a channel's one connection only with its lease.
    const connections = new Map(options.channels.flatMap((channel) => (channel.connection ? [[channelLease(channel.channelType), channel.connection] as const] : [])));
    const wanted = () => [...connections.keys(), ...core.views.sessions.list().filter((s) => s.status === 'active').map((s) => sessionLease(s.id))];
    const leases = config.store === undefined ? undefined : PostgresLeases.open(config.store, installId(config.dataDir), wanted, { logger: component('leases') });
    if (leases) teardown.add('leases', () => leases.stop());
    // A session this host opens is its own from the commit that opens it, before any host's lease tick.
    if (leases) core.replica?.leaseOpenedSessions(leases.holder);
    const ownership = leases && new SessionOwnership((sessionId) => leases.holds(sessionLease(sessionId)));
    const owns = ownership && ((sessionId: string) => ownership.owns(sessionId));
    const runtime = options.runtime ?? (await Host.runtimeFor(config, component('runtime')));
    teardown.add('runtime', () => runtime.close());
    core.views.host.wake = { runtime: runtime.kind, defaultImage: config.agentImage };
    const containers = new ContainerLifecycle(core, {
      dataDir: config.dataDir,
      installId: installId(config.dataDir),
      runtime,
      defaultImage: config.agentImage,
      agentEnv: agentEnv(config),
      liveFrom: core.store.lastPosition(),
      logger: component('containers'),
      ...(owns && { owns }),
    });
    await containers.reconcile();
    // One failure policy for every component that touches session folders, so a folder busy for one is busy for all.
    const guard = new SessionGuard(core, { logger: component('session-guard'), ...(ownership && { owns, takingOver: (sessionId: string) => ownership.takingOver(sessionId) }) });
    const decisions = logDecisions(core.store, component('decisions'), core.store.lastPosition());
    teardown.add('decision log', () => decisions.unsubscribe());
    const inboundWriter = WorkerInboundWriter.startIfBuilt();
    // Added before the reactors, so closed after they stopped: the folder writer's last burst is written.
    teardown.add('inbound.db writer', () => inboundWriter.close());
    const folders = new SessionFolderReactor(config.dataDir, core, { logger: component('session-folder'), guard, writer: inboundWriter });
    const destinations = new DestinationsFileReactor(config.dataDir, core, { logger: component('destinations-file'), guard });
    const reactors = [
      new ReactorRunner(core.store, folders, { logger }),
      new ReactorRunner(core.store, destinations, { logger }),
      new ReactorRunner(core.store, containers, { logger }),
    ];
    // What a group's approved packages become: a docker image, or a package folder for child processes; external agents are someone else's.
    const builder: GroupBuilder | undefined =
      runtime instanceof DockerRuntime
        ? (packages, log) => buildGroupImage(runtime.docker, { baseImage: config.agentImage, packages, cacheDir: join(config.dataDir, 'cache', 'apt'), ...(log && { logger: log }) })
        : runtime.kind === 'process'
          ? (packages) => buildPackagePrefix(join(config.dataDir, 'packages'), packages)
          : undefined;
    if (builder) {
      const images = new ImageBuilds(core, builder, { logger: component('image-builds') });
      images.recover();
      reactors.push(new ReactorRunner(core.store, images, { logger }));
      teardown.add('image builds', () => images.stop());
    }
    for (const reactor of reactors) {
      reactor.start();
      teardown.add('reactor', () => reactor.stop());
    }
    // Agents that are child processes stop with the host; a container is left running, to be adopted at the next start.
    teardown.add('agents', async () => {
      if (runtime.kind === 'process') await containers.stopAll();
      await containers.settled();
    });
    const poller = new OutboundPoller(core, config.dataDir, { intervalMs: config.pollIntervalMs, logger: component('outbound-poller'), guard });
    const channels = new Map(options.channels.map((c) => [c.channelType, c]));
    const delivery = new DeliveryService(core, config.dataDir, channels, {
      backoffMs: config.deliveryBackoffMs,
      maxAttempts: config.deliveryAttempts,
      logger: component('delivery'),
      guard,
      sources: [new ApprovalCards(core, channels, { runtime, defaultImage: config.agentImage })],
    });
    // Stopped once the channels are: deliveries in flight record their outcome.
    teardown.add('delivery', () => delivery.stop());
    const sweep = new Sweep(core, containers, {
      dataDir: config.dataDir,
      intervalMs: config.sweepIntervalMs,
      idleTimeoutMs: config.idleTimeoutMs,
      heartbeatTimeoutMs: config.heartbeatTimeoutMs,
      maxRuntimeMs: config.maxRuntimeMs,
      unclaimedSystemRowMs: config.unclaimedSystemRowMs,
      logger: component('sweep'),
      guard,
      writer: inboundWriter,
    });
    const host = new Host(core, reactors, poller, delivery, options.channels, containers, runtime, logger, teardown, leases);
    for (const channel of options.channels) {
      // Registered first: a channel whose setup failed half-way may hold something already.
      teardown.add(`${channel.channelType} channel`, () => channel.teardown());
      await channel.setup({
        conversations: host.conversations(channel.channelType),
        onInbound: (report) => host.receive(report),
        onClientConnected: () => host.clientConnected(),
        onAction: async (report) => host.decideByClick(report),
        holdConnection: leases === undefined,
      });
    }
    delivery.start();
    // Before the inbound.db writer closes: the sweep's last settles are written.
    teardown.add('poller and sweep', async () => {
      poller.stop();
      sweep.stop();
      await sweep.settled();
    });
    poller.start();
    // Work left pending while the host was down is found by a first pass now, not in a minute.
    sweep.run();
    sweep.start();
    if (leases && ownership) {
      const failed = (name: string) => (error: unknown) => logger.error({ err: error, event: 'ChannelConnectionFailed', lease: name }, 'holding or releasing a channel connection failed');
      leases.onAcquired((name) => {
        const connection = connections.get(name);
        if (connection) void connection.hold().catch(failed(name));
        else void takeOverSession({ folders, destinations, containers, delivery, ownership, logger: component('takeover') }, sessionOfLease(name));
      });
      leases.onLost((name) => {
        const connection = connections.get(name);
        if (connection) void connection.release().catch(failed(name));
        else {
          ownership.released(sessionOfLease(name));
          containers.release(sessionOfLease(name));
        }
      });
      leases.start();
      // Its lease was taken in the commit that opened it: the tick renews it and acts on it at once.
      const opened = core.store.subscribe({ after: core.store.lastPosition(), type: SessionOpened.type }).subscribe(() => void leases.tick());
      teardown.add('lease ticks', () => opened.unsubscribe());
    }
    host.publishFacts(config.dataDir);
    logger.info(
      { event: 'HostStarted', dataDir: config.dataDir, runtime: runtime.kind, channels: options.channels.map((c) => c.channelType), position: core.store.lastPosition() },
      'host started',
    );
    return host;
  }

  /** Keeps host.json (uptime, channel URLs and connections) current for `status` while the host runs. */
  private publishFacts(dataDir: string): void {
    const startedAt = new Date().toISOString();
    const write = () => {
      try {
        writeHostFacts(dataDir, {
          pid: process.pid,
          startedAt,
          checkedAt: new Date().toISOString(),
          runtime: this.runtime.kind,
          ...(this.core.replica && { store: redactUrl(this.core.replica.url) }),
          ...(this.leases && { leases: this.leases.list() }),
          channels: this.channels.map((channel) => ({ channelType: channel.channelType, url: channel.url?.() ?? null, connected: channel.isConnected() })),
        });
      } catch (error) {
        // Only status reads it: a full disk must not stop the host over it.
        this.logger.warn({ err: error, event: 'HostFactsUnwritten' }, 'could not write host.json');
      }
    };
    write();
    // The leases held change by the second; status shows them.
    const timer = setInterval(write, this.leases ? LEASES_FACTS_INTERVAL_MS : HOST_FACTS_INTERVAL_MS);
    timer.unref();
    this.teardown.add('host facts', () => {
      clearInterval(timer);
      removeHostFacts(dataDir);
    });
  }

  /**
   * A client connected over which platform messages may arrive, and the function to call
   * when it closes: while several are connected, their messages share one commit.
   */
  clientConnected(): () => void {
    return this.inbound.clientConnected();
  }

  /** Records one platform message; resolves once it is routed or dropped in the log, or recorded as a repeat. */
  async receive(report: InboundReport): Promise<InboundRepeat> {
    const { outcome, repeat } = await dispatchInboundGrouped(this.inbound, {
      channelType: report.channelType,
      platformId: report.platformId,
      threadId: report.threadId,
      messageId: report.message.id,
      kind: report.message.kind,
      content: report.message.content,
      timestamp: report.message.timestamp,
      ...(report.chat?.name !== undefined && { chatName: report.chat.name }),
      ...(report.chat?.isGroup !== undefined && { isGroup: report.chat.isGroup }),
    });
    if (outcome.status === 'rejected') throw new Error(`${outcome.code}: ${outcome.message}`);
    // Show the chat the agent is on it: best effort, and never holding up the platform's answer.
    if (outcome.events.some((event) => event.type === 'InboundRouted')) {
      this.typing.show(this.channels.find((c) => c.channelType === report.channelType), report.platformId, report.threadId);
    }
    return repeat;
  }

  /** A click on a card, an approval's or an agent's question: decided, or refused with the reason recorded (AnswerCard). */
  decideByClick(report: ActionReport): { accepted: boolean; reason?: string } {
    const outcome = this.core.bus.dispatch(
      AnswerCard.envelope(
        `click:${report.channelType}:${report.platformId}:${report.questionId}:${report.userId}:${report.selectedOption}`,
        { questionId: report.questionId, selectedOption: report.selectedOption },
        { actor: `channel:${report.channelType}:${report.platformId}:${report.userId}` },
      ),
    );
    if (outcome.status === 'rejected') return { accepted: false, reason: `${outcome.code}: ${outcome.message}` };
    const refusals = new Set<string>([ApprovalDecisionRefused.type, QuestionAnswerRefused.type]);
    const refused = outcome.events.find((event) => refusals.has(event.type));
    if (!refused) return { accepted: true };
    const { reason, explanation } = this.core.store.readAt(refused.position)!.data as { reason: string; explanation: string };
    return { accepted: false, reason: `refused and recorded (${reason}): ${explanation}` };
  }

  /** Waits until every reactor has handled the log up to now. */
  async settled(): Promise<void> {
    await Promise.all(this.reactors.map((reactor) => reactor.caughtUp()));
  }

  /**
   * Graceful, in the reverse order of start: no new work, deliveries in flight record their
   * outcome, agents that are child processes are stopped, then the store closes and the
   * lease is released. Every part is stopped even when one fails; the first failure is thrown.
   */
  async stop(): Promise<void> {
    const failures = await this.teardown.run(this.logger);
    this.logger.info({ event: 'HostStopped' }, 'host stopped');
    if (failures.length > 0) throw failures[0];
  }

  /** The runtime the configuration asks for: with `auto`, docker when its engine answers, else a child process. */
  private static async runtimeFor(config: Config, logger: Logger): Promise<ContainerRuntime> {
    const processRuntime = () => {
      const runtime = new ProcessRuntime({ runnerPath: RUNNER_PATH, stateDir: join(config.dataDir, 'run', 'process'), logger });
      runtime.reapOrphans();
      return runtime;
    };
    if (config.runtime === 'external') return new ExternalRuntime();
    if (config.runtime === 'process') return processRuntime();
    const docker = new Dockerode({ socketPath: config.dockerSocket });
    const answers = await docker.ping().then(
      () => true,
      () => false,
    );
    if (!answers) {
      if (config.runtime === 'docker') throw new Error(`no Docker engine answers at ${config.dockerSocket} (set SWITCHYARD_DOCKER_SOCKET, or use --runtime process)`);
      logger.info({ event: 'RuntimeChosen', runtime: 'process', reason: `no Docker engine at ${config.dockerSocket}` }, 'agents run as child processes');
      return processRuntime();
    }
    await buildAgentImage(docker, { tag: config.agentImage, repoRoot: packageRoot(__dirname), logger });
    return new DockerRuntime(docker, { logger });
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
