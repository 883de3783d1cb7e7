import type Database from 'better-sqlite3';
import { AgentMessageDelivered } from '../events/agent-messages';
import { defineProjection, rowLookup } from './runner';

export interface AgentMessageRow {
  message_id: string;
  target_session_id: string;
  target_agent_group_id: string;
  source_session_id: string;
  source_agent_group_id: string;
  delivered_position: number;
}

/** The chain an agent message belongs to. */
export interface AgentMessageChainRow {
  message_id: string;
  target_session_id: string;
  hops: number;
  /** JSON: the message ids of its chain, origin first. */
  chain: string;
  delivered_position: number;
  delivered_at: string;
}

/** Where each agent-to-agent message came from, for routing replies back, and the chain it belongs to. */
export const agentMessagesProjection = defineProjection({
  name: 'agent-messages',
  tables: ['agent_messages', 'agent_message_chains'],
  bind(db, on) {
    const insert = db.prepare(
      `INSERT INTO agent_messages (message_id, target_session_id, target_agent_group_id, source_session_id, source_agent_group_id, delivered_position)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    const insertChain = db.prepare(
      'INSERT INTO agent_message_chains (message_id, target_session_id, hops, chain, delivered_position, delivered_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const touch = db.prepare('UPDATE sessions SET last_active = ? WHERE id = ?');
    on(AgentMessageDelivered, (data, event) => {
      insert.run(data.messageId, data.targetSessionId, data.targetAgentGroupId, data.sourceSessionId, data.sourceAgentGroupId, event.position);
      insertChain.run(data.messageId, data.targetSessionId, data.hops, JSON.stringify(data.chain), event.position, event.metadata.recordedAt);
      touch.run(event.metadata.recordedAt, data.targetSessionId);
    });
  },
});

export class AgentMessagesView {
  readonly get: (messageId: string) => AgentMessageRow | undefined;
  readonly chainOf: (messageId: string) => AgentMessageChainRow | undefined;
  private readonly newest: Database.Statement;

  constructor(db: Database.Database) {
    this.get = rowLookup<AgentMessageRow>(db, 'SELECT * FROM agent_messages WHERE message_id = ?');
    this.chainOf = rowLookup<AgentMessageChainRow>(db, 'SELECT * FROM agent_message_chains WHERE message_id = ?');
    this.newest = db.prepare('SELECT * FROM agent_message_chains WHERE target_session_id = ? AND delivered_at <= ? ORDER BY delivered_position DESC LIMIT 1');
  }

  /** The chain of the newest agent message delivered into the session by the given time. */
  newestIn(sessionId: string, at: string): AgentMessageChainRow | undefined {
    return this.newest.get(sessionId, at) as AgentMessageChainRow | undefined;
  }
}
