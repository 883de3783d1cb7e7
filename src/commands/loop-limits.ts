import { AgentNotified } from '../events/admin';
import type { PendingEvent } from '../events/define';
import type { Views } from '../projections';
import type { AgentMessageChainRow } from '../projections/agent-messages';
import { newId, type CommandContext } from './define';

/** Agent-to-agent hops a chain may take when the agent group sets no limit of its own. */
export const DEFAULT_MAX_HOPS = 8;
/** Outbound rows a session may write a minute when its agent group sets no limit of its own. */
export const DEFAULT_OUTBOUND_PER_MINUTE = 60;
const WINDOW_MS = 60_000;

/** A chain of agent-to-agent messages: how many hops it took, and their ids, origin first. */
export interface Chain {
  hops: number;
  chain: string[];
}

const chainOf = (message: AgentMessageChainRow): Chain => ({ hops: message.hops, chain: JSON.parse(message.chain) as string[] });

/**
 * The chain a row of this session extends, read from the log and never from the agent's
 * word: the agent message its in_reply_to names, when that was delivered into this very
 * session. A row that names none (omitted, unknown, or a chat message) continues the
 * newest agent message the session received, unless a chat message came in after it:
 * then a person spoke last and the row starts a new chain (hop 0). So leaving out
 * in_reply_to does not reset the count while agents are talking among themselves.
 */
export function answeredChain(views: Views, sessionId: string, inReplyTo: string | null, at: string): Chain {
  const named = inReplyTo === null ? undefined : views.agentMessages.chainOf(inReplyTo);
  if (named?.target_session_id === sessionId) return chainOf(named);
  const newest = views.agentMessages.newestIn(sessionId, at);
  if (newest && newest.delivered_position > (views.audit.lastInboundPosition(sessionId, at) ?? 0)) return chainOf(newest);
  return { hops: 0, chain: inReplyTo === null ? [] : [inReplyTo] };
}

/** The hop limit of an agent group: its own, else the host's default. */
export const maxHopsOf = (views: Views, agentGroupId: string) => views.agentGroups.get(agentGroupId)?.maxHops ?? DEFAULT_MAX_HOPS;

/** What a limit decided about a row: the drop's explanation, and whether the agent must be told. */
export interface LimitHit {
  explanation: string;
  tell: boolean;
}

/** A session's outbound rows in the minute up to a time, by how each was dropped. */
const lastMinute = (views: Views, sessionId: string, at: string) => views.audit.outboundSince(sessionId, new Date(Date.parse(at) - WINDOW_MS).toISOString());

/**
 * Whether a session already wrote its agent group's allowance of rows in the minute up to
 * this one, counted from the audit (rows the limit dropped do not use the allowance, so a
 * session that slows down is heard again). The agent is told once a window, not per row:
 * a notice per dropped row would be a flood of its own.
 */
export function rateLimitHit(views: Views, sessionId: string, agentGroupId: string, at: string): LimitHit | undefined {
  const limit = views.agentGroups.get(agentGroupId)?.outboundPerMinute ?? DEFAULT_OUTBOUND_PER_MINUTE;
  const counts = lastMinute(views, sessionId, at);
  const written = [...counts].reduce((sum, [dropped, count]) => (dropped === 'rate-limited' ? sum : sum + count), 0);
  if (written < limit) return undefined;
  return {
    explanation: `session ${sessionId} wrote ${written} rows in the minute up to ${at}; agent group ${agentGroupId} allows ${limit} a minute`,
    tell: !counts.has('rate-limited'),
  };
}

/**
 * Whether an agent-to-agent row would take its chain past the sender's hop limit. The
 * agent is told once a minute: a model told of the drop may answer the notice to the
 * other agent, which this limit drops again.
 */
export function loopLimitHit(views: Views, sessionId: string, agentGroupId: string, chain: Chain, at: string): LimitHit | undefined {
  const limit = maxHopsOf(views, agentGroupId);
  if (chain.hops < limit) return undefined;
  return {
    explanation: `the row would be hop ${chain.hops + 1} of a chain of agent messages (${chain.chain.join(' → ')}); agent group ${agentGroupId} allows ${limit}`,
    tell: !lastMinute(views, sessionId, at).has('loop-limit'),
  };
}

/** The notice that tells an agent a limit dropped its row. */
export function limitNotice(sessionId: string, outboundId: string, reason: 'loop-limit' | 'rate-limited', explanation: string, context: CommandContext): PendingEvent {
  const advice = reason === 'loop-limit' ? 'Stop answering the other agent in this conversation.' : 'Rows are dropped until the rate falls.';
  return AgentNotified.create({
    sessionId,
    noticeId: newId('notice', context),
    text: `Your message ${outboundId} was not sent (${reason}): ${explanation}. ${advice}`,
    details: { outboundId, reason },
  });
}
