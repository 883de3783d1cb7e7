import type Database from 'better-sqlite3';
import { ChannelUnwired, ChannelWired } from '../events/messaging-groups';
import type { SessionMode, TriggerRules } from '../events/primitives';
import { defineProjection } from './runner';

interface WiringRow {
  messaging_group_id: string;
  agent_group_id: string;
  trigger_rules: string;
  response_scope: string;
  session_mode: SessionMode;
  priority: number;
  wired_position: number;
  created_at: string;
}

export interface Wiring {
  messagingGroupId: string;
  agentGroupId: string;
  triggerRules: TriggerRules;
  responseScope: string;
  sessionMode: SessionMode;
  priority: number;
  wiredPosition: number;
  createdAt: string;
}

const toWiring = (row: WiringRow): Wiring => ({
  messagingGroupId: row.messaging_group_id,
  agentGroupId: row.agent_group_id,
  triggerRules: JSON.parse(row.trigger_rules) as TriggerRules,
  responseScope: row.response_scope,
  sessionMode: row.session_mode,
  priority: row.priority,
  wiredPosition: row.wired_position,
  createdAt: row.created_at,
});

/** Which agent groups answer in which chat (the reference's messaging_group_agents). */
export const wiringsProjection = defineProjection({
  name: 'wirings',
  tables: ['messaging_group_agents'],
  bind(db, on) {
    const insert = db.prepare(
      `INSERT INTO messaging_group_agents
         (messaging_group_id, agent_group_id, trigger_rules, response_scope, session_mode, priority, wired_position, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const remove = db.prepare('DELETE FROM messaging_group_agents WHERE messaging_group_id = ? AND agent_group_id = ?');
    on(ChannelWired, (data, event) => {
      insert.run(data.messagingGroupId, data.agentGroupId, JSON.stringify(data.triggerRules), data.responseScope, data.sessionMode, data.priority, event.position, event.metadata.recordedAt);
    });
    on(ChannelUnwired, (data) => remove.run(data.messagingGroupId, data.agentGroupId));
  },
});

export class WiringsView {
  private readonly forChat: Database.Statement;
  private readonly forAgent: Database.Statement;
  private readonly one: Database.Statement;
  private readonly all: Database.Statement;

  constructor(db: Database.Database) {
    // Highest priority first; among equals, the earlier wiring wins.
    const order = 'ORDER BY priority DESC, wired_position ASC';
    this.forChat = db.prepare(`SELECT * FROM messaging_group_agents WHERE messaging_group_id = ? ${order}`);
    this.forAgent = db.prepare(`SELECT * FROM messaging_group_agents WHERE agent_group_id = ? ${order}`);
    this.one = db.prepare('SELECT * FROM messaging_group_agents WHERE messaging_group_id = ? AND agent_group_id = ?');
    this.all = db.prepare(`SELECT * FROM messaging_group_agents ORDER BY messaging_group_id, priority DESC, wired_position`);
  }

  /** The chat's wirings in the order routing considers them. */
  forMessagingGroup(messagingGroupId: string): Wiring[] {
    return (this.forChat.all(messagingGroupId) as WiringRow[]).map(toWiring);
  }

  forAgentGroup(agentGroupId: string): Wiring[] {
    return (this.forAgent.all(agentGroupId) as WiringRow[]).map(toWiring);
  }

  get(messagingGroupId: string, agentGroupId: string): Wiring | undefined {
    const row = this.one.get(messagingGroupId, agentGroupId) as WiringRow | undefined;
    return row && toWiring(row);
  }

  list(): Wiring[] {
    return (this.all.all() as WiringRow[]).map(toWiring);
  }
}
