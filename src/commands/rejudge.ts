import type { z } from 'zod';
import { SystemActionAccepted } from '../events/admin';
import type { PendingEvent, RecordedEvent } from '../events/define';
import { InboundDropped, InboundRouted } from '../events/inbound';
import { OutboundDropped, OutboundRouted, type OutboundDropReason, type OutboundRowAsRead } from '../events/outbound';
import type { Views } from '../projections';
import { parsePayload } from './bus';
import { isRejection, type CommandContext, type Decision } from './define';
import { normalizeLocalName } from './destinations';
import { messageText, ReceiveInbound, type ReceiveInboundPayload } from './inbound';
import { idProblem, readContent, RouteOutbound, seqProblem, type RouteOutboundPayload } from './outbound';

/** A routing decision in one line, comparable between the log and a re-run. */
export type Verdict = string;

export interface Judgement {
  verdict: Verdict;
  /** Whether the message went on (to an agent's session, or towards delivery), or stopped here. */
  routed: boolean;
  /** The agent group the decision concerns: the sender of an outbound row, the receiver of an inbound one. */
  agentGroupId: string | null;
}

/**
 * The judgement a decision event states, recorded or just decided: both carry the type
 * and data it is read from.
 */
export function recordedJudgement(event: Pick<PendingEvent, 'type' | 'data'>): Judgement | undefined {
  const data = event.data as { agentGroupId?: string; reason?: string; acl?: { localName: string }; action?: string };
  const agentGroupId = data.agentGroupId ?? null;
  switch (event.type) {
    case InboundRouted.type:
      return { verdict: `routed to ${agentGroupId}`, routed: true, agentGroupId };
    case OutboundRouted.type:
      return { verdict: `routed by "${data.acl!.localName}"`, routed: true, agentGroupId };
    case SystemActionAccepted.type:
      return { verdict: `accepted as system action ${data.action}`, routed: true, agentGroupId };
    case InboundDropped.type:
    case OutboundDropped.type:
      return { verdict: `dropped: ${data.reason}`, routed: false, agentGroupId };
    default:
      return undefined;
  }
}

function judgementOf(decision: Decision): Judgement {
  if (isRejection(decision)) return { verdict: `refused: ${decision.code}`, routed: false, agentGroupId: null };
  for (const event of decision) {
    const judgement = recordedJudgement(event);
    if (judgement !== undefined) return judgement;
  }
  return { verdict: 'no decision', routed: false, agentGroupId: null };
}

/** The messages_out row a routed row's event keeps: all of it but the time it was read, which routing never reads. */
function routedRow(data: RecordedEvent<'OutboundRouted', z.output<typeof OutboundRouted.schema>>['data']): Omit<OutboundRowAsRead, 'timestamp'> {
  const target = data.target;
  return {
    id: data.outboundId,
    seq: data.seq,
    in_reply_to: data.inReplyTo,
    deliver_after: null,
    recurrence: null,
    kind: data.kind,
    platform_id: target.type === 'agent' ? target.agentGroupId : target.platformId,
    channel_type: target.type === 'agent' ? 'agent' : target.channelType,
    thread_id: target.type === 'agent' ? null : target.threadId,
    content: data.content,
  };
}

/** The messages_out row an outbound decision judged, as the container wrote it. */
function outboundRow(event: RecordedEvent): OutboundRowAsRead | undefined {
  if (OutboundDropped.is(event)) return event.data.row;
  return OutboundRouted.is(event) ? { ...routedRow(event.data), timestamp: event.metadata.recordedAt } : undefined;
}

/**
 * A row its agent addressed by a name its map lacked (the built-in runner writes no routing
 * fields then, and the name in content.to), as the agent would have written it had the
 * name been in its map: re-judged against views where the name exists, it routes there.
 */
function addressedByName(views: Views, agentGroupId: string, row: OutboundRowAsRead): OutboundRowAsRead {
  if (row.channel_type !== null || row.platform_id !== null || typeof row.content !== 'string') return row;
  let to: unknown;
  try {
    to = (JSON.parse(row.content) as { to?: unknown }).to;
  } catch {
    return row;
  }
  if (typeof to !== 'string') return row;
  const destination = views.destinations.find(agentGroupId, normalizeLocalName(to));
  if (destination?.target_type === 'agent') return { ...row, channel_type: 'agent', platform_id: destination.target_id };
  const chat = destination && views.messagingGroups.get(destination.target_id);
  return chat ? { ...row, channel_type: chat.channel_type, platform_id: chat.platform_id } : row;
}

/** A message's content when only its text is known (null: it had none). */
const contentOfText = (text: string | null): ReceiveInboundPayload['content'] => (text === null ? {} : { text });

/** The inbound message a decision judged; a dropped one keeps only its text, which is all routing reads. */
function inboundPayload(event: RecordedEvent): ReceiveInboundPayload | undefined {
  if (InboundRouted.is(event)) {
    const { data } = event;
    return { channelType: data.channelType, platformId: data.platformId, threadId: data.threadId, messageId: data.platformMessageId, kind: data.kind, content: data.content, timestamp: data.timestamp };
  }
  if (InboundDropped.is(event)) {
    const { data } = event;
    return {
      channelType: data.channelType, platformId: data.platformId, threadId: data.threadId, messageId: data.platformMessageId,
      content: contentOfText(data.evidence.text), timestamp: event.metadata.recordedAt,
    };
  }
  return undefined;
}

/**
 * Runs the pure decider again on the command a recorded decision answered, against the
 * given views (today's, or the ACL as of a position). Nothing is written.
 */
export function rejudge(views: Views, event: RecordedEvent): Judgement | undefined {
  const context: CommandContext = {
    commandId: event.metadata.commandId,
    actor: event.metadata.actor,
    issuedAt: event.metadata.recordedAt,
    correlationId: event.metadata.correlationId,
    causationId: event.metadata.causationId,
  };
  const row = outboundRow(event);
  if (row) {
    const { sessionId, agentGroupId } = event.data as { sessionId: string; agentGroupId: string };
    const payload: RouteOutboundPayload = { sessionId, row: addressedByName(views, agentGroupId, row) };
    return judgementOf(RouteOutbound.decide(views, parsePayload(RouteOutbound, payload), context));
  }
  const inbound = inboundPayload(event);
  if (inbound) return judgementOf(ReceiveInbound.decide(views, parsePayload(ReceiveInbound, inbound), context));
  return undefined;
}

/**
 * Whether the rate or the hop limit dropped this row. Both are judged from the log's
 * history, which what-if's scratch does not hold (re-judged there, every such row the ACL
 * allows would pass) and no change of destinations or wiring rewrites: the rate limit counts
 * a session's rows whatever became of them, before any destination is looked at; the hop
 * limit counts the chain the agent messages were delivered in. So the row stays dropped.
 */
const LIMITS: ReadonlySet<string> = new Set<OutboundDropReason>(['rate-limited', 'loop-limit']);
export const droppedByLimit = (event: Pick<RecordedEvent, 'type' | 'data'>): boolean =>
  event.type === OutboundDropped.type && LIMITS.has((event.data as { reason: OutboundDropReason }).reason);

/**
 * What rejudge's verdict reads of a decision against views that hold no history (what-if's
 * proposed views: no rows counted towards the rate limit, no chain of agent messages), as a
 * JSON list kept beside each decision by the routing-decisions projection: two decisions
 * asking the same question get the same verdict from the same views (once its session is
 * resolved there: see questionInputs), so each distinct question need be judged once. Only
 * the data is read, never the metadata.
 *
 * An inbound message is routed by its chat (channel type, platform id) and, through the
 * trigger rules, its text; its thread, ids and times only name the session and the events.
 * An outbound row is judged by its session's agent group (the session itself only names
 * the events, and the limits that would read it count nothing there), its recorded agent
 * group, its routing fields, and what readContent reads of its content: whether it can be
 * read, and its `to`, which addressedByName resolves in the recorded agent group's map. Its
 * id, seq, thread and in_reply_to only name things or find a chain. Undefined when the
 * verdict may read more: a system action (its whole content, the time), a row put off
 * (deliver_after is read against the time), oversize columns, or an id or seq that makes
 * the row malformed; such a decision is re-judged in full.
 */
export function decisionQuestion(event: Pick<RecordedEvent, 'type' | 'data'>): string | undefined {
  if (event.type === InboundRouted.type) {
    const data = event.data as z.output<typeof InboundRouted.schema>;
    return JSON.stringify(['inbound', data.channelType, data.platformId, messageText(data.content)]);
  }
  if (event.type === InboundDropped.type) {
    const data = event.data as z.output<typeof InboundDropped.schema>;
    return JSON.stringify(['inbound', data.channelType, data.platformId, data.evidence.text]);
  }
  let row: Omit<OutboundRowAsRead, 'timestamp'>;
  if (event.type === OutboundDropped.type) row = (event.data as z.output<typeof OutboundDropped.schema>).row;
  else if (event.type === OutboundRouted.type) row = routedRow(event.data as z.output<typeof OutboundRouted.schema>);
  else return undefined;
  if (row.kind === 'system' || row.deliver_after !== null || row.oversize !== undefined || idProblem(row) !== undefined || seqProblem(row.seq) !== undefined) return undefined;
  const { sessionId, agentGroupId } = event.data as { sessionId: string; agentGroupId: string };
  const content = readContent(row.content);
  const readable = !('problem' in content);
  return JSON.stringify(['outbound', sessionId, agentGroupId, row.channel_type, row.platform_id, readable, readable ? (content.requestedName ?? null) : null]);
}

/** The context a question is judged in: it only names the events the decider would append. */
const QUESTION_CONTEXT: CommandContext = {
  commandId: 'what-if:question',
  actor: 'operator:what-if',
  issuedAt: new Date(0).toISOString(),
  correlationId: 'what-if:question',
  causationId: 'what-if:question',
};

/**
 * The values a question's verdict depends on in the given views, comparable by value: an
 * outbound question's session is asked for its agent group there.
 */
export function questionInputs(views: Views, question: string): unknown[] {
  const values = JSON.parse(question) as unknown[];
  if (values[0] === 'outbound') values[1] = views.sessions.get(values[1] as string)?.agent_group_id;
  return values;
}

/**
 * The verdict on a question in the given views, from its inputs (questionInputs). An
 * inbound question holds all its verdict reads, so the message is rebuilt from it, as a
 * dropped one is from its evidence (inboundPayload), and no event is read; an outbound one
 * is judged on a decision that asked it, read only then.
 */
export function judgeQuestion(views: Views, inputs: readonly unknown[], askedBy: () => RecordedEvent): Judgement {
  const [direction, channelType, platformId, text] = inputs as [string, string, string, string | null];
  if (direction !== 'inbound') return rejudge(views, askedBy())!;
  const message: ReceiveInboundPayload = { channelType, platformId, messageId: 'what-if', content: contentOfText(text) };
  return judgementOf(ReceiveInbound.decide(views, parsePayload(ReceiveInbound, message), QUESTION_CONTEXT));
}
