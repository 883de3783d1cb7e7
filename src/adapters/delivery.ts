import { lstatSync, realpathSync, rmSync } from 'node:fs';
import { join, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { filter, type Subscription } from 'rxjs';
import { DeliverAgentMessage, RecordDeliveryAttempt, RecordDeliveryResult } from '../commands/delivery';
import type { Core } from '../core';
import type { RecordedEvent } from '../events/define';
import { OutboundRouted } from '../events/outbound';
import type { Logger } from '../logger';
import { DeliveryError, type ChannelAdapter, type OutboundFile } from './channels/channel';
import { childPath, sessionDir } from './session-db';

type Routed = RecordedEvent<'OutboundRouted', ReturnType<typeof OutboundRouted.schema.parse>>;

export interface DeliveryOptions {
  /** First retry delay; each further one doubles it. */
  backoffMs?: number;
  logger?: Logger;
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
 * Rows of one session go out in order; sessions proceed concurrently.
 */
export class DeliveryService {
  private readonly queues = new Map<string, Promise<void>>();
  private subscription: Subscription | undefined;
  private stopping = new AbortController();

  constructor(
    private readonly core: Core,
    private readonly dataDir: string,
    private readonly channels: ReadonlyMap<string, ChannelAdapter>,
    private readonly options: DeliveryOptions = {},
  ) {}

  start(): void {
    if (this.subscription) return;
    this.stopping = new AbortController();
    const from = this.core.store.lastPosition();
    for (const row of this.core.views.audit.query({ direction: 'outbound', outcome: 'routed' })) {
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
    await Promise.all(this.queues.values());
  }

  /** Resolves when every queued delivery has finished. */
  async idle(): Promise<void> {
    while (this.queues.size > 0) await Promise.all(this.queues.values());
  }

  private enqueue(event: Routed): void {
    const { sessionId } = event.data;
    const previous = this.queues.get(sessionId) ?? Promise.resolve();
    const next = previous
      .then(() => this.deliver(event))
      .catch((error: unknown) => this.options.logger?.error({ err: error, event: event.type, position: event.position, sessionId }, 'delivery failed'))
      .finally(() => {
        if (this.queues.get(sessionId) === next) this.queues.delete(sessionId);
      });
    this.queues.set(sessionId, next);
  }

  private async deliver(event: Routed): Promise<void> {
    const { data } = event;
    const meta = { correlationId: event.metadata.correlationId, causationId: event.eventId };
    if (data.target.type === 'agent') {
      this.core.bus.dispatch(
        DeliverAgentMessage.envelope(
          `deliver-agent:${data.sessionId}:${data.outboundId}`,
          { sessionId: data.sessionId, outboundId: data.outboundId, targetAgentGroupId: data.target.agentGroupId, kind: data.kind, content: data.content, inReplyTo: data.inReplyTo },
          meta,
        ),
      );
      return;
    }
    const ref = { sessionId: data.sessionId, outboundId: data.outboundId };
    while (!this.stopping.signal.aborted) {
      const audit = this.core.views.audit.outboundRow(data.sessionId, data.outboundId);
      if (!audit || audit.outcome !== 'routed') return;
      const attempt = audit.attempts + 1;
      const opened = this.core.bus.dispatch(RecordDeliveryAttempt.envelope(`delivery:${data.sessionId}:${data.outboundId}:attempt-${attempt}`, ref, meta));
      if (opened.status !== 'accepted') return;
      const result = await this.attempt(event);
      this.core.bus.dispatch(RecordDeliveryResult.envelope(`delivery:${data.sessionId}:${data.outboundId}:result-${attempt}`, { ...ref, attempt, result }, meta));
      this.options.logger?.info({ event: result.ok ? 'DeliverySucceeded' : 'DeliveryFailed', sessionId: data.sessionId, outboundId: data.outboundId, attempt, ...meta }, 'delivery attempt');
      if (result.ok) {
        this.removeOutbox(data.sessionId, data.agentGroupId, data.outboundId);
        return;
      }
      // The decider said whether that failure was the last one.
      if (this.core.views.audit.outboundRow(data.sessionId, data.outboundId)?.outcome !== 'routed') return;
      await sleep((this.options.backoffMs ?? 1000) * 2 ** (attempt - 1), undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
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
      return failure('OutboxFile', error instanceof Error ? error.message : String(error), false);
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
   * The files a row asks to send, each confined to outbox/<row id>/: a plain name, a
   * regular file, and a real path that stays inside the folder (no symlink out of it).
   */
  private outboxFiles(sessionId: string, agentGroupId: string, outboundId: string, names: readonly string[]): OutboundFile[] {
    if (names.length === 0) return [];
    const folder = childPath(join(sessionDir(this.dataDir, agentGroupId, sessionId), 'outbox'), 'outbound id', outboundId);
    const root = realpathSync(folder);
    return names.map((name) => {
      const path = childPath(folder, 'file name', name);
      const stat = lstatSync(path);
      if (!stat.isFile()) throw new Error(`outbox file ${name} is not a regular file`);
      if (!realpathSync(path).startsWith(root + sep)) throw new Error(`outbox file ${name} resolves outside its folder`);
      return { name, path };
    });
  }

  /** The outbox folder of a delivered row is removed, as the reference did; never through a symlink. */
  private removeOutbox(sessionId: string, agentGroupId: string, outboundId: string): void {
    try {
      const folder = childPath(join(sessionDir(this.dataDir, agentGroupId, sessionId), 'outbox'), 'outbound id', outboundId);
      if (lstatSync(folder, { throwIfNoEntry: false })?.isDirectory()) rmSync(folder, { recursive: true });
    } catch (error) {
      this.options.logger?.warn({ err: error, sessionId, outboundId }, 'outbox folder not removed');
    }
  }
}
