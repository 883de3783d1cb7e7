import type Database from 'better-sqlite3';
import { SystemActionAccepted } from '../events/admin';
import { StatementCache } from '../db/statement-cache';
import { DeliveryAttempted, DeliveryFailed, DeliveryRateLimited, DeliveryRetryRequested, DeliverySucceeded } from '../events/delivery';
import type { RecordedEvent } from '../events/define';
import { InboundDropped, InboundRepeatIgnored, InboundRouted, inboundCommandId } from '../events/inbound';
import { OutboundDropped, OutboundRouted, type OutboundTarget } from '../events/outbound';
import { MessageExpired, MessageFailed, MessageRetryScheduled } from '../events/retries';
import { defineProjection } from './runner';

export type AuditOutcome = 'routed' | 'delivered' | 'dropped' | 'failed';

export interface AuditRow {
  audit_id: string;
  message_id: string;
  direction: 'inbound' | 'outbound';
  outcome: AuditOutcome;
  reason: string | null;
  rule: string | null;
  agent_group_id: string | null;
  session_id: string | null;
  messaging_group_id: string | null;
  target: string | null;
  platform_message_id: string | null;
  attempts: number;
  /** Attempts made before the current series (an operator's retry starts a new one). */
  retry_base: number;
  /** `<errorClass>: <message>` of the newest failed delivery attempt. */
  last_error: string | null;
  /** JSON array of the parts' platform ids, when the message went out in parts. */
  platform_message_ids: string | null;
  decided_position: number;
  last_position: number;
  decided_at: string;
  updated_at: string;
}

/** A target in one readable word: `channel:telegram:-1001` or `agent:ag-…`. */
export const describeTarget = (target: OutboundTarget | null): string | null =>
  target === null ? null : target.type === 'agent' ? `agent:${target.agentGroupId}` : `channel:${target.channelType}:${target.platformId}`;

/** One row per message with its final outcome: what an operator audits. */
export const auditProjection = defineProjection({
  name: 'audit',
  tables: ['audit', 'audit_trace'],
  bind(db, on) {
    const insert = db.prepare(
      `INSERT INTO audit (audit_id, message_id, direction, outcome, reason, rule, agent_group_id, session_id, messaging_group_id,
         target, platform_message_id, decided_position, last_position, decided_at, updated_at)
       VALUES (@auditId, @messageId, @direction, @outcome, @reason, @rule, @agentGroupId, @sessionId, @messagingGroupId,
         @target, @platformMessageId, @position, @position, @at, @at)`,
    );
    const progress = db.prepare(
      `UPDATE audit SET outcome = coalesce(@outcome, outcome), reason = coalesce(@reason, reason), attempts = max(attempts, @attempts),
         platform_message_id = coalesce(@platformMessageId, platform_message_id), platform_message_ids = coalesce(@platformMessageIds, platform_message_ids),
         last_error = coalesce(@lastError, last_error), last_position = @position, updated_at = @at
       WHERE session_id = @sessionId AND message_id = @messageId AND direction = @direction`,
    );
    // A new series: awaiting delivery again, its attempts counted from those already made.
    const reopen = db.prepare(
      `UPDATE audit SET outcome = 'routed', reason = NULL, retry_base = attempts, last_position = @position, updated_at = @at
       WHERE session_id = @sessionId AND message_id = @messageId AND direction = 'outbound'`,
    );
    const trace = db.prepare('INSERT OR IGNORE INTO audit_trace (audit_id, position) VALUES (?, ?)');
    const traceMessage = db.prepare(
      `INSERT OR IGNORE INTO audit_trace (audit_id, position)
       SELECT audit_id, ? FROM audit WHERE session_id = ? AND message_id = ? AND direction = ?`,
    );
    const decided = (event: RecordedEvent) => {
      trace.run(event.metadata.commandId, event.position);
      return { auditId: event.metadata.commandId, position: event.position, at: event.metadata.recordedAt };
    };
    on(InboundRouted, (data, event) =>
      insert.run({
        ...decided(event), messageId: data.messageId, direction: 'inbound', outcome: 'routed', reason: null, rule: data.routing.rule,
        agentGroupId: data.agentGroupId, sessionId: data.sessionId, messagingGroupId: data.messagingGroupId, target: `agent:${data.agentGroupId}`,
        platformMessageId: data.platformMessageId,
      }),
    );
    on(InboundDropped, (data, event) =>
      insert.run({
        ...decided(event), messageId: data.messageId, direction: 'inbound', outcome: 'dropped', reason: data.reason, rule: null,
        agentGroupId: null, sessionId: null, messagingGroupId: data.messagingGroupId, target: null, platformMessageId: data.platformMessageId,
      }),
    );
    // Not an outcome of its own: a step in the story of the message first recorded under that id.
    on(InboundRepeatIgnored, (data, event) => trace.run(inboundCommandId(data.channelType, data.platformId, data.platformMessageId), event.position));
    on(OutboundRouted, (data, event) =>
      insert.run({
        ...decided(event), messageId: data.outboundId, direction: 'outbound', outcome: 'routed', reason: null, rule: `destination:${data.acl.localName}`,
        agentGroupId: data.agentGroupId, sessionId: data.sessionId,
        messagingGroupId: data.target.type === 'channel' ? data.target.messagingGroupId : null, target: describeTarget(data.target), platformMessageId: null,
      }),
    );
    on(OutboundDropped, (data, event) =>
      insert.run({
        ...decided(event), messageId: data.outboundId, direction: 'outbound', outcome: 'dropped', reason: data.reason, rule: null,
        agentGroupId: data.agentGroupId, sessionId: data.sessionId,
        messagingGroupId: data.target?.type === 'channel' ? data.target.messagingGroupId : null, target: describeTarget(data.target), platformMessageId: null,
      }),
    );
    on(SystemActionAccepted, (data, event) =>
      insert.run({
        ...decided(event), messageId: data.outboundId, direction: 'outbound', outcome: 'routed', reason: null, rule: `system:${data.action}`,
        agentGroupId: data.agentGroupId, sessionId: data.sessionId, messagingGroupId: null, target: null, platformMessageId: null,
      }),
    );
    type Message = { sessionId: string; messageId: string; direction: 'inbound' | 'outbound' };
    const outbound = (data: { sessionId: string; outboundId: string }): Message => ({ sessionId: data.sessionId, messageId: data.outboundId, direction: 'outbound' });
    const inbound = (data: { sessionId: string; messageId: string }): Message => ({ sessionId: data.sessionId, messageId: data.messageId, direction: 'inbound' });
    type Change = { outcome?: AuditOutcome; reason?: string; attempts: number; platformMessageId?: string | null; platformMessageIds?: string[]; lastError?: string };
    const update = (event: RecordedEvent, message: Message, change: Change) => {
      traceMessage.run(event.position, message.sessionId, message.messageId, message.direction);
      progress.run({
        ...message, position: event.position, at: event.metadata.recordedAt,
        outcome: change.outcome ?? null, reason: change.reason ?? null, attempts: change.attempts, platformMessageId: change.platformMessageId ?? null,
        platformMessageIds: change.platformMessageIds ? JSON.stringify(change.platformMessageIds) : null, lastError: change.lastError ?? null,
      });
    };
    on(DeliveryAttempted, (data, event) => update(event, outbound(data), { attempts: data.attempt }));
    on(DeliverySucceeded, (data, event) =>
      update(event, outbound(data), {
        outcome: 'delivered', attempts: data.attempt, platformMessageId: data.platformMessageId,
        ...(data.platformMessageIds && { platformMessageIds: data.platformMessageIds }),
      }),
    );
    on(DeliveryFailed, (data, event) => {
      const error = `${data.errorClass}: ${data.error}`;
      update(event, outbound(data), data.final ? { outcome: 'failed', reason: error, attempts: data.attempt, lastError: error } : { attempts: data.attempt, lastError: error });
    });
    // A wait within an attempt: part of the story, not a change of outcome or count.
    on(DeliveryRateLimited, (data, event) => traceMessage.run(event.position, data.sessionId, data.outboundId, 'outbound'));
    on(DeliveryRetryRequested, (data, event) => {
      traceMessage.run(event.position, data.sessionId, data.outboundId, 'outbound');
      reopen.run({ sessionId: data.sessionId, messageId: data.outboundId, position: event.position, at: event.metadata.recordedAt });
    });
    // An inbound message's runs: `attempts` counts those its agent died in.
    on(MessageRetryScheduled, (data, event) => update(event, inbound(data), { attempts: data.attempt }));
    on(MessageFailed, (data, event) => update(event, inbound(data), { outcome: 'failed', reason: `agent-gone: ${data.reason}`, attempts: data.attempts }));
    // A host → agent system row was never routed, so its expiry is the first outcome it has.
    on(MessageExpired, (data, event) =>
      insert.run({
        ...decided(event), messageId: data.messageId, direction: 'inbound', outcome: 'failed', reason: `expired: no agent claimed it within ${data.ttlMs / 1000} s`, rule: null,
        agentGroupId: data.agentGroupId, sessionId: data.sessionId, messagingGroupId: null, target: `agent:${data.agentGroupId}`, platformMessageId: null,
      }),
    );
  },
});

export interface AuditQuery {
  agentGroupId?: string;
  outcome?: AuditOutcome;
  direction?: 'inbound' | 'outbound';
  /** Only messages sent to a chat (deliveries), not to another agent nor system actions. */
  toChannel?: boolean;
  /** ISO-8601 bounds on the decision time, inclusive. */
  since?: string;
  until?: string;
  limit?: number;
}

export class AuditView {
  private readonly byAuditId: Database.Statement;
  private readonly byMessage: Database.Statement;
  private readonly outbound: Database.Statement;
  private readonly inbound: Database.Statement;
  private readonly queries: StatementCache;
  private readonly tracePositions: Database.Statement;
  private readonly pendingFailed: Database.Statement;
  private readonly drops: Database.Statement;
  private readonly recent: Database.Statement;
  private readonly lastInbound: Database.Statement;
  private readonly limited: Database.Statement;

  constructor(db: Database.Database) {
    this.queries = new StatementCache(db);
    this.tracePositions = db.prepare('SELECT position FROM audit_trace WHERE audit_id = ? ORDER BY position').pluck();
    this.pendingFailed = db.prepare(
      // System actions are done once routed (no target): only a route to somewhere awaits its delivery.
      `SELECT count(*) FILTER (WHERE outcome = 'routed' AND direction = 'outbound' AND target IS NOT NULL) AS undelivered,
              count(*) FILTER (WHERE outcome = 'failed' AND direction = 'outbound') AS failed,
              count(*) FILTER (WHERE outcome = 'failed' AND direction = 'inbound') AS inboundFailed FROM audit WHERE outcome IN ('routed', 'failed')`,
    );
    this.drops = db.prepare(
      `SELECT reason, direction, count(*) AS count FROM audit WHERE outcome = 'dropped' AND decided_at >= ?
       GROUP BY reason, direction ORDER BY count DESC, reason`,
    );
    this.byAuditId = db.prepare('SELECT * FROM audit WHERE audit_id = ?');
    this.byMessage = db.prepare(
      `SELECT * FROM audit WHERE message_id = @id UNION SELECT * FROM audit WHERE audit_id = @id
       UNION SELECT * FROM audit WHERE platform_message_id = @id ORDER BY decided_position`,
    );
    this.outbound = db.prepare("SELECT * FROM audit WHERE session_id = ? AND message_id = ? AND direction = 'outbound'");
    this.inbound = db.prepare("SELECT * FROM audit WHERE session_id = ? AND message_id = ? AND direction = 'inbound'");
    this.recent = db.prepare(
      `SELECT CASE WHEN outcome = 'dropped' THEN reason END AS dropped, count(*) AS count FROM audit
       WHERE session_id = ? AND direction = 'outbound' AND decided_at > ? GROUP BY 1`,
    );
    this.lastInbound = db.prepare("SELECT max(decided_position) FROM audit WHERE session_id = ? AND direction = 'inbound' AND decided_at <= ?").pluck();
    this.limited = db.prepare(
      `SELECT session_id AS sessionId, agent_group_id AS agentGroupId, reason, count(*) AS count, max(decided_at) AS lastAt FROM audit
       WHERE direction = 'outbound' AND outcome = 'dropped' AND reason IN ('loop-limit', 'rate-limited') AND decided_at >= ?
       GROUP BY session_id, reason ORDER BY lastAt DESC`,
    );
  }

  /**
   * A session's outbound rows decided after a time, by how each was dropped (the null key
   * counts the rows that were not dropped). No upper bound: the rows of one poll tick share
   * the tick's time yet are recorded a little after it, and each must count for the next.
   */
  outboundSince(sessionId: string, since: string): Map<string | null, number> {
    const rows = this.recent.all(sessionId, since) as { dropped: string | null; count: number }[];
    return new Map(rows.map((r) => [r.dropped, r.count]));
  }

  /** The position of the newest chat message routed into the session by the given time. */
  lastInboundPosition(sessionId: string, at: string): number | null {
    return this.lastInbound.get(sessionId, at) as number | null;
  }

  /** Sessions whose rows were dropped by the hop or rate limit since a time. */
  limitedSince(since: string): { sessionId: string; agentGroupId: string; reason: string; count: number; lastAt: string }[] {
    return this.limited.all(since) as { sessionId: string; agentGroupId: string; reason: string; count: number; lastAt: string }[];
  }

  /** The row a decision opened: audit rows are keyed by the deciding command's id. */
  decidedBy(commandId: string): AuditRow | undefined {
    return this.byAuditId.get(commandId) as AuditRow | undefined;
  }

  /** Every audit row a message id could mean: host id, command id or platform id. */
  find(id: string): AuditRow[] {
    return this.byMessage.all({ id }) as AuditRow[];
  }

  /** Outbound rows still waiting for delivery, and rows that failed for good. */
  pendingAndFailed(): { undelivered: number; failed: number; inboundFailed: number } {
    return this.pendingFailed.get() as { undelivered: number; failed: number; inboundFailed: number };
  }

  /** Drops decided at or after a time, by reason. */
  dropsSince(since: string): { reason: string; direction: string; count: number }[] {
    return this.drops.all(since) as { reason: string; direction: string; count: number }[];
  }

  /** The positions of the events that tell this message's story, in order. */
  trace(auditId: string): number[] {
    return this.tracePositions.all(auditId) as number[];
  }

  outboundRow(sessionId: string, outboundId: string): AuditRow | undefined {
    return this.outbound.get(sessionId, outboundId) as AuditRow | undefined;
  }

  /** An inbound message routed into this session, by the host's id for it (its messages_in id). */
  inboundRow(sessionId: string, messageId: string): AuditRow | undefined {
    return this.inbound.get(sessionId, messageId) as AuditRow | undefined;
  }

  *query(filter: AuditQuery): Generator<AuditRow> {
    const conditions: string[] = [];
    if (filter.agentGroupId !== undefined) conditions.push('agent_group_id = @agentGroupId');
    if (filter.outcome !== undefined) conditions.push('outcome = @outcome');
    if (filter.direction !== undefined) conditions.push('direction = @direction');
    if (filter.toChannel) conditions.push("target LIKE 'channel:%'");
    if (filter.since !== undefined) conditions.push('decided_at >= @since');
    if (filter.until !== undefined) conditions.push('decided_at <= @until');
    const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
    const sql = `SELECT * FROM audit ${where} ORDER BY decided_position ${filter.limit !== undefined ? 'LIMIT @limit' : ''}`;
    yield* this.queries.get(sql).iterate(filter) as IterableIterator<AuditRow>;
  }
}
