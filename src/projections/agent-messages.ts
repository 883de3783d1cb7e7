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

/** Where each agent-to-agent message came from, for routing replies back. */
export const agentMessagesProjection = defineProjection({
  name: 'agent-messages',
  tables: ['agent_messages'],
  bind(db, on) {
    const insert = db.prepare(
      `INSERT INTO agent_messages (message_id, target_session_id, target_agent_group_id, source_session_id, source_agent_group_id, delivered_position)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    const touch = db.prepare('UPDATE sessions SET last_active = ? WHERE id = ?');
    on(AgentMessageDelivered, (data, event) => {
      insert.run(data.messageId, data.targetSessionId, data.targetAgentGroupId, data.sourceSessionId, data.sourceAgentGroupId, event.position);
      touch.run(event.metadata.recordedAt, data.targetSessionId);
    });
  },
});

export class AgentMessagesView {
  readonly get: (messageId: string) => AgentMessageRow | undefined;

  constructor(db: Database.Database) {
    this.get = rowLookup<AgentMessageRow>(db, 'SELECT * FROM agent_messages WHERE message_id = ?');
  }
}
