import { setTimeout as sleep } from 'node:timers/promises';
import type { Subscription } from 'rxjs';
import type { CommandEnvelope } from '../commands/define';
import {
  DEFAULT_DELIVERY_ATTEMPTS, DeliverAgentMessage, RecordDeliveryAttempt, RecordDeliveryRateLimited, RecordDeliveryResult, type AttemptResult,
} from '../commands/delivery';
import { GroupCommitter } from '../commands/group-commit';
import type { Core } from '../core';
import type { RecordedEvent } from '../events/define';
import { DeliveryRetryRequested } from '../events/delivery';
import { OutboundRouted } from '../events/outbound';
import type { Logger } from '../logger';
import { DeliveryError, type ChannelAdapter, type DeliveredIds, type OutboundFile } from './channels/channel';
import { PlatformRefs } from './platform-refs';
import { OutboxFileError, readOutboxFiles, removeOutboxFolder, sessionDir, UnsafePathError } from './session-db';
import { SessionGuard } from './session-guard';

type Routed = RecordedEvent<'OutboundRouted', ReturnType<typeof OutboundRouted.schema.parse>>;

/** Sendables of one lane per group commit; also the most a crash can make the host send again. */
const BATCH = 20;

/**
 * One message for a channel whose attempts and outcome live in the log: each attempt is
 * recorded before the call and its result after, and its decider says whether another
 * attempt is due. A routed outbound row is one; an approval card is another.
 */
export interface Sendable {
  /** Sendables of one lane go out in order, a batch at a time; lanes run concurrently. */
  readonly lane: string;
  /** The session it belongs to: with several hosts, only the one holding its lease sends it. */
  readonly sessionId?: string;
  /** Records the next attempt; its decider may settle the sendable instead (no attempt left, nothing to call). */
  open(maxAttempts: number): CommandEnvelope;
  /** After open, per the views: the attempt waiting for its call, if open left one. */
  openAttempt(): number | undefined;
  /** Calls the channel; resolves with the platform's message id(s). A throw is a failed attempt, unless it asks to wait. */
  send(): Promise<DeliveredIds>;
  record(attempt: number, result: AttemptResult, maxAttempts: number): CommandEnvelope;
  /** Records that the platform asked the open attempt to wait (the `wait`-th time in it). */
  rateLimited(attempt: number, wait: number, error: DeliveryError & { retryAfterMs: number }): CommandEnvelope;
  /** Per the views, after the result is recorded: attempts so far in the current series, and whether another is due. */
  progress(): { attempts: number; outcome: 'pending' | 'delivered' | 'failed' };
  /** Stable log fields: what it is, and the `event` names of a success and a failure. */
  readonly log: { fields: Record<string, unknown>; succeeded: string; failed: string };
  /** Clean-up once delivered. */
  delivered?(): void;
}

/** Where one kind of sendable comes from: the unsettled ones in the log at start, then each new event. */
export interface SendableSource {
  unsettled(): Sendable[];
  fromEvent(event: RecordedEvent): Sendable | undefined;
}

/** The channel adapter for a channel type; without one, no attempt can succeed. */
export function channelFor(channels: ReadonlyMap<string, ChannelAdapter>, channelType: string): ChannelAdapter {
  const channel = channels.get(channelType);
  if (!channel) throw new DeliveryError(`no adapter for channel type ${channelType} is configured`, 'NoChannelAdapter', false);
  return channel;
}

export interface DeliveryOptions {
  /** First retry delay; each further one doubles it. */
  backoffMs?: number;
  /** Attempts per series before a sendable fails for good; put in each command for its decider. */
  maxAttempts?: number;
  /** The longest a platform's retry-after is waited out at once; a longer ask is waited this long, then the call made again. */
  maxRetryAfterMs?: number;
  logger?: Logger;
  /** The failure policy shared with the other components that touch session folders. */
  guard?: SessionGuard;
  /** Other kinds of sendables than routed rows, sent and retried the same way (approval cards). */
  sources?: readonly SendableSource[];
}

/** A platform's retry-after is waited out up to this long at once unless configured otherwise. */
const MAX_RETRY_AFTER_MS = 60_000;

/** The attempt's result from what the channel returned: parts are recorded when there are several. */
function successOf(ids: DeliveredIds): AttemptResult {
  if (!Array.isArray(ids)) return { ok: true, platformMessageId: ids };
  return { ok: true, platformMessageId: ids[0] ?? null, ...(ids.length > 1 && { platformMessageIds: ids }) };
}

function failure(error: unknown): Extract<AttemptResult, { ok: false }> {
  if (error instanceof DeliveryError) return { ok: false, errorClass: error.errorClass, error: error.message, retryable: error.retryable };
  return { ok: false, errorClass: error instanceof Error ? error.name : 'Error', error: error instanceof Error ? error.message : String(error), retryable: true };
}

const asksToWait = (error: unknown): error is DeliveryError & { retryAfterMs: number } => error instanceof DeliveryError && error.retryAfterMs !== undefined;

/**
 * Delivers routed rows: to a channel through its adapter (attempt recorded before the
 * call, outcome after, up to the configured attempts with backoff; a platform's
 * retry-after is waited out within the attempt), or to another agent's session in
 * the log. Work is found in the log, not in memory: at start every routed row that has
 * no final outcome yet is resumed, so a restart neither skips nor resets anything.
 * Rows of one session go out in order, sessions concurrently; the attempts (and then the
 * outcomes) of the rows waiting in a session are recorded together, and what all
 * sessions record in the same turn of the event loop shares one group commit. Other
 * sendables (approval cards) go through the same loop.
 */
export class DeliveryService {
  private readonly pending = new Map<string, Sendable[]>();
  private readonly workers = new Map<string, Promise<void>>();
  private subscription: Subscription | undefined;
  private stopping = new AbortController();
  private readonly committer: GroupCommitter;
  private readonly sources: readonly SendableSource[];
  private readonly guard: SessionGuard;
  private readonly refs: PlatformRefs;

  constructor(
    private readonly core: Core,
    private readonly dataDir: string,
    private readonly channels: ReadonlyMap<string, ChannelAdapter>,
    private readonly options: DeliveryOptions = {},
  ) {
    this.committer = new GroupCommitter(core.bus);
    this.guard = options.guard ?? new SessionGuard(core, options.logger ? { logger: options.logger } : {});
    this.refs = new PlatformRefs(core);
    this.sources = [this.routedRows(), ...(options.sources ?? [])];
  }

  start(): void {
    if (this.subscription) return;
    this.stopping = new AbortController();
    const from = this.core.store.lastPosition();
    for (const source of this.sources) for (const sendable of source.unsettled()) this.offer(sendable);
    this.subscription = this.core.store.subscribe({ after: from }).subscribe((event) => {
      for (const source of this.sources) {
        const sendable = source.fromEvent(event);
        if (sendable) this.offer(sendable);
      }
    });
  }

  /**
   * A session this host has just taken over (its lease): its rows routed but not settled go
   * out now, each through the next attempt its decider allows, as after a restart. An attempt
   * the previous host recorded but never finished is retried, not skipped: at least once.
   */
  resume(sessionId: string): void {
    if (!this.subscription) return;
    for (const source of this.sources) for (const sendable of source.unsettled()) if (sendable.sessionId === sessionId) this.offer(sendable);
  }

  /** Stops taking work and waits for the deliveries in flight to record their outcome. */
  async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.stopping.abort();
    await Promise.all(this.workers.values());
  }

  /** Queues a sendable unless another host runs its session: that host sends it. */
  private offer(sendable: Sendable): void {
    if (sendable.sessionId === undefined || this.guard.owns(sendable.sessionId)) this.enqueue(sendable);
  }

  private enqueue(sendable: Sendable): void {
    const { lane } = sendable;
    const queue = this.pending.get(lane);
    if (queue) queue.push(sendable);
    else this.pending.set(lane, [sendable]);
    if (this.workers.has(lane)) return;
    const worker = this.drain(lane)
      .catch((error: unknown) => this.options.logger?.error({ err: error, lane }, 'delivery worker failed'))
      .finally(() => this.workers.delete(lane));
    this.workers.set(lane, worker);
  }

  /** Works through one lane's queue, a batch at a time, until it is empty. */
  private async drain(lane: string): Promise<void> {
    // Let the rows committed together arrive before the first batch is taken.
    await new Promise((resolve) => setImmediate(resolve));
    for (;;) {
      const queue = this.pending.get(lane) ?? [];
      const batch = queue.splice(0, BATCH);
      if (batch.length === 0) {
        this.pending.delete(lane);
        return;
      }
      let retry = await this.deliverBatch(batch);
      while (retry.length > 0 && !this.stopping.signal.aborted) {
        const attempt = Math.max(...retry.map((sendable) => sendable.progress().attempts));
        await this.pause((this.options.backoffMs ?? 1000) * 2 ** (attempt - 1));
        if (this.stopping.signal.aborted) return;
        retry = await this.deliverBatch(retry);
      }
      if (this.stopping.signal.aborted) return;
    }
  }

  /** Delivers a batch in order; returns the sendables that failed and may be tried again. */
  private async deliverBatch(batch: readonly Sendable[]): Promise<Sendable[]> {
    const maxAttempts = this.options.maxAttempts ?? DEFAULT_DELIVERY_ATTEMPTS;
    const opened = await this.committer.dispatch(batch.map((sendable) => sendable.open(maxAttempts)));
    const results = [];
    const attempted: Sendable[] = [];
    for (let i = 0; i < batch.length; i++) {
      const sendable = batch[i]!;
      const attempt = opened[i]!.status === 'accepted' ? sendable.openAttempt() : undefined;
      if (attempt === undefined) continue;
      const result = await this.call(sendable, attempt);
      results.push(sendable.record(attempt, result, maxAttempts));
      attempted.push(sendable);
      const fields = { ...sendable.log.fields, attempt };
      if (result.ok) this.options.logger?.info({ event: sendable.log.succeeded, ...fields, platformMessageId: result.platformMessageId }, 'delivery attempt succeeded');
      else this.options.logger?.warn({ event: sendable.log.failed, ...fields, errorClass: result.errorClass, error: result.error, retryable: result.retryable }, `delivery attempt failed: ${result.errorClass}: ${result.error}`);
    }
    await this.committer.dispatch(results);
    const retry: Sendable[] = [];
    for (const sendable of attempted) {
      const { outcome } = sendable.progress();
      if (outcome === 'delivered') sendable.delivered?.();
      // Still pending after a failure: the decider judged it worth another attempt.
      else if (outcome === 'pending') retry.push(sendable);
    }
    return retry;
  }

  /**
   * One attempt's call to the channel. A platform that asks to be called again later is
   * waited out (each wait capped, recorded, abortable on stop) and called again within the
   * same attempt: a rate limit is not a failure. Anything else thrown fails the attempt.
   */
  private async call(sendable: Sendable, attempt: number): Promise<AttemptResult> {
    for (let wait = 1; ; wait++) {
      try {
        // A send that throws before its promise exists fails the attempt the same way.
        return successOf(await (async () => sendable.send())());
      } catch (error) {
        if (!asksToWait(error) || this.stopping.signal.aborted) return failure(error);
        const waitMs = Math.min(error.retryAfterMs, this.options.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS);
        await this.committer.dispatch([sendable.rateLimited(attempt, wait, error)]);
        this.options.logger?.info({ event: 'DeliveryRateLimited', ...sendable.log.fields, attempt, retryAfterMs: error.retryAfterMs, waitMs }, 'platform asked to wait');
        await this.pause(waitMs);
        // Stopped while waiting: the attempt ends as the rate limit left it; the next start opens another.
        if (this.stopping.signal.aborted) return failure(error);
      }
    }
  }

  /** Waits, or less if the service stops meanwhile. */
  private pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }

  /**
   * Routed outbound rows: resumed from the audit's rows still `routed` (a retried row is
   * routed again), then each new OutboundRouted and each operator's DeliveryRetryRequested.
   */
  private routedRows(): SendableSource {
    const { store, views } = this.core;
    return {
      unsettled: () => {
        // Read to the end first: nothing else may run on the connection while a query iterates.
        const rows = [...views.audit.query({ direction: 'outbound', outcome: 'routed' })];
        return rows.flatMap((row) => {
          const event = store.readAt(row.decided_position);
          return event && OutboundRouted.is(event) ? [this.routedRow(event)] : [];
        });
      },
      fromEvent: (event) => {
        if (OutboundRouted.is(event)) return this.routedRow(event);
        if (!DeliveryRetryRequested.is(event)) return undefined;
        const row = views.audit.outboundRow(event.data.sessionId, event.data.outboundId);
        const routed = row && store.readAt(row.decided_position);
        return routed && OutboundRouted.is(routed) ? this.routedRow(routed) : undefined;
      },
    };
  }

  private routedRow(event: Routed): Sendable {
    const { audit } = this.core.views;
    const { data } = event;
    const { sessionId, outboundId } = data;
    const meta = { correlationId: event.metadata.correlationId, causationId: event.eventId };
    const row = () => audit.outboundRow(sessionId, outboundId);
    return {
      lane: sessionId,
      sessionId,
      open: (maxAttempts) =>
        data.target.type === 'agent'
          ? DeliverAgentMessage.envelope(
              `deliver-agent:${sessionId}:${outboundId}`,
              { sessionId, outboundId, targetAgentGroupId: data.target.agentGroupId, kind: data.kind, content: data.content, inReplyTo: data.inReplyTo },
              meta,
            )
          : RecordDeliveryAttempt.envelope(`delivery:${sessionId}:${outboundId}:attempt-${(row()?.attempts ?? 0) + 1}`, { sessionId, outboundId, maxAttempts }, meta),
      // An agent target is delivered (or failed) by the command that opens it.
      openAttempt: () => (data.target.type === 'channel' && row()?.outcome === 'routed' ? row()!.attempts : undefined),
      send: async () => {
        const ids = await this.send(event);
        // What a later row edits or reacts to is the message's first part.
        this.refs.noteSent(sessionId, outboundId, Array.isArray(ids) ? (ids[0] ?? null) : ids);
        return ids;
      },
      record: (attempt, result, maxAttempts) =>
        RecordDeliveryResult.envelope(`delivery:${sessionId}:${outboundId}:result-${attempt}`, { sessionId, outboundId, maxAttempts, attempt, result }, meta),
      rateLimited: (attempt, wait, error) =>
        RecordDeliveryRateLimited.envelope(
          `delivery:${sessionId}:${outboundId}:attempt-${attempt}:rate-limited-${wait}`,
          { sessionId, outboundId, attempt, retryAfterMs: error.retryAfterMs, errorClass: error.errorClass, error: error.message },
          meta,
        ),
      progress: () => {
        const { attempts, retry_base, outcome } = row()!;
        return { attempts: attempts - retry_base, outcome: outcome === 'routed' ? 'pending' : outcome === 'delivered' ? 'delivered' : 'failed' };
      },
      log: { fields: { sessionId, outboundId, ...meta }, succeeded: 'DeliverySucceeded', failed: 'DeliveryFailed' },
      delivered: () => {
        this.refs.forget(sessionId, outboundId);
        this.removeOutbox(sessionId, data.agentGroupId, outboundId);
      },
    };
  }

  private async send(event: Routed): Promise<DeliveredIds> {
    const { data } = event;
    if (data.target.type !== 'channel') throw new DeliveryError('not a channel target', 'InvalidTarget', false);
    const channel = channelFor(this.channels, data.target.channelType);
    let files: OutboundFile[];
    try {
      files = this.outboxFiles(data.sessionId, data.agentGroupId, data.outboundId, data.files);
    } catch (error) {
      throw new DeliveryError(error instanceof Error ? error.message : String(error), error instanceof UnsafePathError ? 'UnsafeOutbox' : 'OutboxFile', false);
    }
    // The platform's ids, not the ones the agent saw, for what the row reacts to, edits or answers.
    const { content, inReplyTo } = this.refs.translate(data);
    return channel.deliver(data.target.platformId, data.target.threadId, {
      idempotencyKey: `${data.sessionId}:${data.outboundId}`,
      kind: data.kind,
      content,
      files,
      ...(inReplyTo !== undefined && { inReplyTo }),
    });
  }

  /**
   * The files a row asks to send, read from outbox/<row id>/ without following a link. A
   * link or a non-regular file there quarantines the session (thrown on, so the row fails);
   * a missing or oversized file is only this row's failure.
   */
  private outboxFiles(sessionId: string, agentGroupId: string, outboundId: string, names: readonly string[]): OutboundFile[] {
    if (names.length === 0) return [];
    const dir = sessionDir(this.dataDir, agentGroupId, sessionId);
    return this.inSessionFolder(sessionId, { outboundId, files: names }, () => readOutboxFiles(dir, outboundId, names));
  }

  /** The outbox folder of a delivered row is removed, as the reference did; never through a link. */
  private removeOutbox(sessionId: string, agentGroupId: string, outboundId: string): void {
    try {
      this.inSessionFolder(sessionId, { outboundId }, () => removeOutboxFolder(sessionDir(this.dataDir, agentGroupId, sessionId), outboundId));
    } catch (error) {
      this.options.logger?.warn({ err: error, sessionId, outboundId }, 'outbox folder not removed');
    }
  }

  /** Runs work in the session folder under the guard; throws when it could not be done. */
  private inSessionFolder<T>(sessionId: string, evidence: Record<string, unknown>, work: () => T): T {
    const outcome = this.guard.run(sessionId, 'delivery', evidence, () => {
      try {
        return { value: work() };
      } catch (error) {
        // The agent's own mistake (a missing or oversized file) is this row's failure, not the folder's.
        if (error instanceof OutboxFileError) return { error };
        throw error;
      }
    });
    if (outcome.status === 'retry-later' || outcome.status === 'quarantined') throw outcome.error;
    if (outcome.status === 'skipped') throw new UnsafePathError(`session ${sessionId} is quarantined: its folder is not read`);
    if ('error' in outcome.value) throw outcome.value.error;
    return outcome.value.value;
  }
}
