import type Database from 'better-sqlite3';
import { DestinationAdded, DestinationRemoved, type TargetType } from '../events/destinations';
import { defineProjection } from './runner';

export interface DestinationRow {
  agent_group_id: string;
  local_name: string;
  target_type: TargetType;
  target_id: string;
  granted_at: number;
  granted_time: string;
  granted_by: string;
  revoked_at: number | null;
  revoked_time: string | null;
  revoked_by: string | null;
}

/** The destination map (the ACL), kept temporal: revoking closes a row, never deletes it. */
export const destinationsProjection = defineProjection({
  name: 'destinations',
  tables: ['destinations'],
  bind(db, on) {
    const grant = db.prepare(
      `INSERT INTO destinations (agent_group_id, local_name, target_type, target_id, granted_at, granted_time, granted_by)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const revoke = db.prepare(
      `UPDATE destinations SET revoked_at = ?, revoked_time = ?, revoked_by = ?
       WHERE agent_group_id = ? AND local_name = ? AND revoked_at IS NULL`,
    );
    on(DestinationAdded, (data, event) => {
      grant.run(data.agentGroupId, data.localName, data.targetType, data.targetId, event.position, event.metadata.recordedAt, event.metadata.actor);
    });
    on(DestinationRemoved, (data, event) => {
      revoke.run(event.position, event.metadata.recordedAt, event.metadata.actor, data.agentGroupId, data.localName);
    });
  },
});

/**
 * Read-only queries over the destination map, for deciders and the CLI. Built with an
 * `asOf` position, every question is answered as the ACL stood then: that is how a past
 * decision is re-run against the ACL of its moment.
 */
export class DestinationsView {
  private readonly byName: Database.Statement;
  private readonly byNameAt: Database.Statement;
  private readonly listCurrent: Database.Statement;
  private readonly listAt: Database.Statement;
  private readonly byTarget: Database.Statement;
  private readonly byTargetAt: Database.Statement;
  private readonly holders: Database.Statement;
  private readonly revokedBefore: Database.Statement;
  private readonly grantedUpTo: Database.Statement;

  constructor(
    db: Database.Database,
    private readonly asOf?: number,
  ) {
    const liveAt = 'granted_at <= @at AND (revoked_at IS NULL OR revoked_at > @at)';
    this.byName = db.prepare('SELECT * FROM destinations WHERE agent_group_id = ? AND local_name = ? AND revoked_at IS NULL');
    this.byNameAt = db.prepare(`SELECT * FROM destinations WHERE agent_group_id = @agentGroupId AND local_name = @localName AND ${liveAt}`);
    this.listCurrent = db.prepare('SELECT * FROM destinations WHERE agent_group_id = ? AND revoked_at IS NULL ORDER BY local_name');
    this.listAt = db.prepare(`SELECT * FROM destinations WHERE agent_group_id = @agentGroupId AND ${liveAt} ORDER BY local_name`);
    this.byTarget = db.prepare(
      'SELECT * FROM destinations WHERE agent_group_id = ? AND target_type = ? AND target_id = ? AND revoked_at IS NULL ORDER BY granted_at LIMIT 1',
    );
    this.byTargetAt = db.prepare(
      `SELECT * FROM destinations WHERE agent_group_id = ? AND target_type = ? AND target_id = ? AND granted_at <= ? AND (revoked_at IS NULL OR revoked_at > ?)
       ORDER BY granted_at LIMIT 1`,
    );
    this.revokedBefore = db.prepare(
      `SELECT * FROM destinations WHERE agent_group_id = ? AND target_type = ? AND target_id = ? AND revoked_at IS NOT NULL AND revoked_at <= ?
       ORDER BY revoked_at DESC LIMIT 1`,
    );
    this.grantedUpTo = db.prepare('SELECT * FROM destinations WHERE agent_group_id = ? AND granted_at <= ? ORDER BY granted_at');
    this.holders = db.prepare('SELECT DISTINCT agent_group_id FROM destinations WHERE target_type = ? AND target_id = ? AND revoked_at IS NULL');
  }

  /** Reverse lookup: the name under which the agent group knows a chat or agent. */
  nameFor(agentGroupId: string, targetType: TargetType, targetId: string, atPosition = this.asOf): DestinationRow | undefined {
    return (
      atPosition === undefined
        ? this.byTarget.get(agentGroupId, targetType, targetId)
        : this.byTargetAt.get(agentGroupId, targetType, targetId, atPosition, atPosition)
    ) as DestinationRow | undefined;
  }

  /** The most recent revocation of a route to this target at or before a position: why a route stopped. */
  lastRevocation(agentGroupId: string, targetType: TargetType, targetId: string, atPosition: number): DestinationRow | undefined {
    return this.revokedBefore.get(agentGroupId, targetType, targetId, atPosition) as DestinationRow | undefined;
  }

  /** Every row granted up to a position, revoked ones included; a revocation after the position is not known there yet. */
  history(agentGroupId: string, atPosition: number): DestinationRow[] {
    return (this.grantedUpTo.all(agentGroupId, atPosition) as DestinationRow[]).map((row) =>
      row.revoked_at !== null && row.revoked_at > atPosition ? { ...row, revoked_at: null, revoked_time: null, revoked_by: null } : row,
    );
  }

  /** The agent groups that hold a destination to this target today. */
  agentGroupsTargeting(targetType: TargetType, targetId: string): string[] {
    return this.holders.pluck().all(targetType, targetId) as string[];
  }

  /** The row that grants `localName` to the agent group. */
  find(agentGroupId: string, localName: string, atPosition = this.asOf): DestinationRow | undefined {
    return (
      atPosition === undefined
        ? this.byName.get(agentGroupId, localName)
        : this.byNameAt.get({ agentGroupId, localName, at: atPosition })
    ) as DestinationRow | undefined;
  }

  list(agentGroupId: string, atPosition = this.asOf): DestinationRow[] {
    return (
      atPosition === undefined ? this.listCurrent.all(agentGroupId) : this.listAt.all({ agentGroupId, at: atPosition })
    ) as DestinationRow[];
  }
}
