import { setTimeout as sleep } from 'node:timers/promises';
import { filter, type Subscription } from 'rxjs';
import { DeliverAgentMessage, RecordDeliveryAttempt, RecordDeliveryResult } from '../commands/delivery';
import { GroupCommitter } from '../commands/group-commit';
import type { Core } from '../core';
import type { RecordedEvent } from '../events/define';
import { OutboundRouted } from '../events/outbound';
import type { Logger } from '../logger';
import { DeliveryError, type ChannelAdapter, type OutboundFile } from './channels/channel';
import { OutboxFileError, readOutboxFiles, removeOutboxFolder, sessionDir, UnsafePathError } from './session-db';
import { SessionGuard } from './session-guard';

type Routed = RecordedEvent<'OutboundRouted', ReturnType<typeof OutboundRouted.schema.parse>>;

/** Rows of one session per group commit; also the most a crash can make the host send again. */
const BATCH = 20;

export interface DeliveryOptions {
  /** First retry delay; each further one doubles it. */
  backoffMs?: number;
  logger?: Logger;
  /** The failure policy shared with the other components that touch session folders. */
  guard?: SessionGuard;
}

type AttemptResult =
  | { ok: true; platformMessageId: string | null }
  | { ok: false; errorClass: string; error: string; retryable: boolean };

const failure = (errorClass: string, error: string, retryable: boolean): AttemptResult => ({ ok: false, errorClass, error, retryable });

/**
 * Delivers routed rows: to a channel through its adapter (attempt recorded before the
 * call, outcome after, up to 3 attempts with backoff), or to another agent's session in
 * the log. Work is found in the log, not in memory: at start every routed row that has
 * no final outcome yet is resumed, so a restart neither skips nor resets anything.
 * Rows of one session go out in order, sessions concurrently; the attempts (and then the
 * outcomes) of the rows waiting in a session are recorded together, and what all
 * sessions record in the same turn of the event loop shares one group commit.
 */
export class DeliveryService {
  private readonly pending = new Map<string, Routed[]>();
  private readonly workers = new Map<string, Promise<void>>();
  private subscription: Subscription | undefined;
  private stopping = new AbortController();
  private readonly committer: GroupCommitter;
  private readonly guard: SessionGuard;

  constructor(
    private readonly core: Core,
    private readonly dataDir: string,
    private readonly channels: ReadonlyMap<string, ChannelAdapter>,
    private readonly options: DeliveryOptions = {},
  ) {
    this.committer = new GroupCommitter(core.bus);
    this.guard = options.guard ?? new SessionGuard(core, options.logger ? { logger: options.logger } : {});
  }

  start(): void {
    if (this.subscription) return;
    this.stopping = new AbortController();
    const from = this.core.store.lastPosition();
    // Read to the end first: nothing else may run on the connection while a query iterates.
    for (const row of [...this.core.views.audit.query({ direction: 'outbound', outcome: 'routed' })]) {
      const event = this.core.store.readAt(row.decided_position);
      if (event && OutboundRouted.is(event)) this.enqueue(event);
    }
    this.subscription = this.core.store
      .subscribe({ after: from })
      .pipe(filter((event): event is Routed => OutboundRouted.is(event)))
      .subscribe((event) => this.enqueue(event));
  }

  /** Stops taking work and waits for the deliveries in flight to record their outcome. */
  async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.stopping.abort();
    await Promise.all(this.workers.values());
  }

  private enqueue(event: Routed): void {
    const { sessionId } = event.data;
    const queue = this.pending.get(sessionId);
    if (queue) queue.push(event);
    else this.pending.set(sessionId, [event]);
    if (this.workers.has(sessionId)) return;
    const worker = this.drain(sessionId)
      .catch((error: unknown) => this.options.logger?.error({ err: error, sessionId }, 'delivery worker failed'))
      .finally(() => this.workers.delete(sessionId));
    this.workers.set(sessionId, worker);
  }

  /** Works through one session's queue, a batch at a time, until it is empty. */
  private async drain(sessionId: string): Promise<void> {
    // Let the rows committed together arrive before the first batch is taken.
    await new Promise((resolve) => setImmediate(resolve));
    for (;;) {
      const queue = this.pending.get(sessionId) ?? [];
      const batch = queue.splice(0, BATCH);
      if (batch.length === 0) {
        this.pending.delete(sessionId);
        return;
      }
      let retry = await this.deliverBatch(batch);
      while (retry.length > 0 && !this.stopping.signal.aborted) {
        const attempt = Math.max(...retry.map((event) => this.core.views.audit.outboundRow(event.data.sessionId, event.data.outboundId)?.attempts ?? 1));
        await sleep((this.options.backoffMs ?? 1000) * 2 ** (attempt - 1), undefined, { signal: this.stopping.signal }).catch(() => undefined);
        if (this.stopping.signal.aborted) return;
        retry = await this.deliverBatch(retry);
      }
      if (this.stopping.signal.aborted) return;
    }
  }

  /** Delivers a batch in order; returns the rows that failed and may be tried again. */
  private async deliverBatch(batch: readonly Routed[]): Promise<Routed[]> {
    const { views } = this.core;
    const meta = (event: Routed) => ({ correlationId: event.metadata.correlationId, causationId: event.eventId });
    const openings = batch.map((event) => {
      const { data } = event;
      if (data.target.type === 'agent') {
        return DeliverAgentMessage.envelope(
          `deliver-agent:${data.sessionId}:${data.outboundId}`,
          { sessionId: data.sessionId, outboundId: data.outboundId, targetAgentGroupId: data.target.agentGroupId, kind: data.kind, content: data.content, inReplyTo: data.inReplyTo },
          meta(event),
        );
      }
      const attempt = (views.audit.outboundRow(data.sessionId, data.outboundId)?.attempts ?? 0) + 1;
      return RecordDeliveryAttempt.envelope(`delivery:${data.sessionId}:${data.outboundId}:attempt-${attempt}`, { sessionId: data.sessionId, outboundId: data.outboundId }, meta(event));
    });
    const opened = await this.committer.dispatch(openings);
    const results = [];
    const attempted: Routed[] = [];
    for (let i = 0; i < batch.length; i++) {
      const event = batch[i]!;
      const outcome = opened[i]!;
      if (event.data.target.type !== 'channel' || outcome.status !== 'accepted') continue;
      const { sessionId, outboundId } = event.data;
      const attempt = views.audit.outboundRow(sessionId, outboundId)!.attempts;
      const result = await this.attempt(event);
      results.push(RecordDeliveryResult.envelope(`delivery:${sessionId}:${outboundId}:result-${attempt}`, { sessionId, outboundId, attempt, result }, meta(event)));
      attempted.push(event);
      this.options.logger?.info({ event: result.ok ? 'DeliverySucceeded' : 'DeliveryFailed', sessionId, outboundId, attempt, ...meta(event) }, 'delivery attempt');
    }
    await this.committer.dispatch(results);
    const retry: Routed[] = [];
    for (const event of attempted) {
      const { sessionId, agentGroupId, outboundId } = event.data;
      const outcome = views.audit.outboundRow(sessionId, outboundId)?.outcome;
      if (outcome === 'delivered') this.removeOutbox(sessionId, agentGroupId, outboundId);
      // Still 'routed' after a failure: the decider judged it worth another attempt.
      else if (outcome === 'routed') retry.push(event);
    }
    return retry;
  }

  private async attempt(event: Routed): Promise<AttemptResult> {
    const { data } = event;
    if (data.target.type !== 'channel') return failure('InvalidTarget', 'not a channel target', false);
    const channel = this.channels.get(data.target.channelType);
    if (!channel) return failure('NoChannelAdapter', `no adapter for channel type ${data.target.channelType} is configured`, false);
    let files: OutboundFile[];
    try {
      files = this.outboxFiles(data.sessionId, data.agentGroupId, data.outboundId, data.files);
    } catch (error) {
      return failure(error instanceof UnsafePathError ? 'UnsafeOutbox' : 'OutboxFile', error instanceof Error ? error.message : String(error), false);
    }
    try {
      const platformMessageId = await channel.deliver(data.target.platformId, data.target.threadId, {
        idempotencyKey: `${data.sessionId}:${data.outboundId}`,
        kind: data.kind,
        content: data.content,
        files,
      });
      return { ok: true, platformMessageId };
    } catch (error) {
      if (error instanceof DeliveryError) return failure(error.errorClass, error.message, error.retryable);
      return failure(error instanceof Error ? error.name : 'Error', error instanceof Error ? error.message : String(error), true);
    }
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
    if (outcome.status === 'retry-later') throw outcome.error;
    if (outcome.status === 'skipped') throw new UnsafePathError(`session ${sessionId} is quarantined: its folder is not read`);
    if ('error' in outcome.value) throw outcome.value.error;
    return outcome.value.value;
  }
}
