import type Database from 'better-sqlite3';
import { AgentImageRebuildRequested } from '../events/admin';
import { AgentGroupCreated, AgentGroupDeleted, AgentGroupUpdated } from '../events/agent-groups';
import type { ContainerConfig } from '../events/primitives';
import { defineProjection } from './runner';

export interface AgentGroupRow {
  id: string;
  name: string;
  folder: string;
  is_admin: 0 | 1;
  agent_provider: string | null;
  container_config: string;
  created_at: string;
  created_position: number;
  deleted_at: string | null;
  image_rebuild_requested_at: string | null;
  max_hops: number | null;
  outbound_per_minute: number | null;
}

export interface AgentGroup {
  id: string;
  name: string;
  folder: string;
  isAdmin: boolean;
  agentProvider: string | null;
  containerConfig: ContainerConfig;
  createdAt: string;
  deletedAt: string | null;
  /** When an approval asked for its image to be rebuilt with new packages; null if never. */
  imageRebuildRequestedAt: string | null;
  /** The group's own hop limit for agent-to-agent chains; null: the host's default. */
  maxHops: number | null;
  /** The group's own outbound rate limit per session; null: the host's default. */
  outboundPerMinute: number | null;
}

const toAgentGroup = (row: AgentGroupRow): AgentGroup => ({
  id: row.id,
  name: row.name,
  folder: row.folder,
  isAdmin: row.is_admin === 1,
  agentProvider: row.agent_provider,
  containerConfig: JSON.parse(row.container_config) as ContainerConfig,
  createdAt: row.created_at,
  deletedAt: row.deleted_at,
  imageRebuildRequestedAt: row.image_rebuild_requested_at,
  maxHops: row.max_hops,
  outboundPerMinute: row.outbound_per_minute,
});

/** Agent groups; a deleted one keeps its row (and folder name) with deleted_at set. */
export const agentGroupsProjection = defineProjection({
  name: 'agent-groups',
  tables: ['agent_groups'],
  bind(db, on) {
    const insert = db.prepare(
      `INSERT INTO agent_groups (id, name, folder, is_admin, agent_provider, container_config, created_at, created_position)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const update = db.prepare(
      `UPDATE agent_groups SET name = coalesce(@name, name), is_admin = coalesce(@isAdmin, is_admin),
         agent_provider = CASE WHEN @setProvider THEN @agentProvider ELSE agent_provider END,
         container_config = coalesce(@containerConfig, container_config),
         max_hops = CASE WHEN @setMaxHops THEN @maxHops ELSE max_hops END,
         outbound_per_minute = CASE WHEN @setPerMinute THEN @outboundPerMinute ELSE outbound_per_minute END
       WHERE id = @id`,
    );
    const markDeleted = db.prepare('UPDATE agent_groups SET deleted_at = ? WHERE id = ?');
    const markForRebuild = db.prepare('UPDATE agent_groups SET image_rebuild_requested_at = ? WHERE id = ?');
    on(AgentGroupCreated, (data, event) => {
      insert.run(data.agentGroupId, data.name, data.folder, data.isAdmin ? 1 : 0, data.agentProvider, JSON.stringify(data.containerConfig), event.metadata.recordedAt, event.position);
    });
    on(AgentGroupUpdated, (data) => {
      update.run({
        id: data.agentGroupId,
        name: data.name ?? null,
        isAdmin: data.isAdmin === undefined ? null : data.isAdmin ? 1 : 0,
        setProvider: data.agentProvider === undefined ? 0 : 1,
        agentProvider: data.agentProvider ?? null,
        containerConfig: data.containerConfig ? JSON.stringify(data.containerConfig) : null,
        setMaxHops: data.maxHops === undefined ? 0 : 1,
        maxHops: data.maxHops ?? null,
        setPerMinute: data.outboundPerMinute === undefined ? 0 : 1,
        outboundPerMinute: data.outboundPerMinute ?? null,
      });
    });
    on(AgentGroupDeleted, (data, event) => markDeleted.run(event.metadata.recordedAt, data.agentGroupId));
    on(AgentImageRebuildRequested, (data, event) => markForRebuild.run(event.metadata.recordedAt, data.agentGroupId));
  },
});

export class AgentGroupsView {
  private readonly byId: Database.Statement;
  private readonly liveId: Database.Statement;
  private readonly byFolder: Database.Statement;
  private readonly all: Database.Statement;

  constructor(db: Database.Database) {
    this.byId = db.prepare('SELECT * FROM agent_groups WHERE id = ?');
    this.liveId = db.prepare('SELECT 1 FROM agent_groups WHERE id = ? AND deleted_at IS NULL').pluck();
    this.byFolder = db.prepare('SELECT * FROM agent_groups WHERE folder = ?');
    this.all = db.prepare('SELECT * FROM agent_groups WHERE deleted_at IS NULL ORDER BY name, id');
  }

  /** The agent group, unless it does not exist or was deleted. */
  get(id: string): AgentGroup | undefined {
    const row = this.byId.get(id) as AgentGroupRow | undefined;
    return row && row.deleted_at === null ? toAgentGroup(row) : undefined;
  }

  /** Whether it exists and is not deleted: for deciders that need no more, without building the group (its config parsed). */
  exists(id: string): boolean {
    return this.liveId.get(id) !== undefined;
  }

  /** Including deleted ones: a folder name is never reused. */
  getIncludingDeleted(id: string): AgentGroup | undefined {
    const row = this.byId.get(id) as AgentGroupRow | undefined;
    return row && toAgentGroup(row);
  }

  folderTaken(folder: string): boolean {
    return this.byFolder.get(folder) !== undefined;
  }

  list(): AgentGroup[] {
    return (this.all.all() as AgentGroupRow[]).map(toAgentGroup);
  }
}
