import type Database from 'better-sqlite3';
import { InboundRouted, SessionOpened } from '../events/inbound';
import { SessionClosed } from '../events/import';
import { SessionQuarantined, SessionReleased } from '../events/quarantine';
import type { SessionMode } from '../events/primitives';
import { defineProjection } from './runner';

export interface SessionRow {
  id: string;
  agent_group_id: string;
  messaging_group_id: string | null;
  thread_id: string | null;
  session_mode: SessionMode;
  agent_provider: string | null;
  status: string;
  last_active: string | null;
  created_at: string;
  opened_position: number;
  /** Set while the session is quarantined (status 'quarantined'). */
  quarantine_reason: string | null;
  quarantine_component: string | null;
  quarantine_detail: string | null;
  quarantined_at: string | null;
  quarantined_position: number | null;
}

/** One row per session: one conversation of one agent group, one folder. */
export const sessionsProjection = defineProjection({
  name: 'sessions',
  tables: ['sessions'],
  bind(db, on) {
    const insert = db.prepare(
      `INSERT INTO sessions (id, agent_group_id, messaging_group_id, thread_id, session_mode, agent_provider, created_at, opened_position)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const touch = db.prepare('UPDATE sessions SET last_active = ? WHERE id = ?');
    on(SessionOpened, (data, event) => {
      insert.run(data.sessionId, data.agentGroupId, data.messagingGroupId, data.threadId, data.sessionMode, data.agentProvider, event.metadata.recordedAt, event.position);
    });
    on(InboundRouted, (data, event) => touch.run(event.metadata.recordedAt, data.sessionId));
    const quarantine = db.prepare(
      `UPDATE sessions SET status = 'quarantined', quarantine_reason = ?, quarantine_component = ?, quarantine_detail = ?, quarantined_at = ?, quarantined_position = ? WHERE id = ?`,
    );
    const release = db.prepare(
      `UPDATE sessions SET status = 'active', quarantine_reason = NULL, quarantine_component = NULL, quarantine_detail = NULL, quarantined_at = NULL, quarantined_position = NULL WHERE id = ?`,
    );
    on(SessionQuarantined, (data, event) => quarantine.run(data.reason, data.component, data.detail, event.metadata.recordedAt, event.position, data.sessionId));
    on(SessionReleased, (data) => release.run(data.sessionId));
    const close = db.prepare(`UPDATE sessions SET status = 'closed' WHERE id = ?`);
    on(SessionClosed, (data) => close.run(data.sessionId));
  },
});

/** What names an active session's folder: all a poller that looks at every folder needs. */
export type SessionFolderRef = Pick<SessionRow, 'id' | 'agent_group_id'>;

export class SessionsView {
  private readonly byId: Database.Statement;
  private readonly forChat: Database.Statement;
  private readonly agentShared: Database.Statement;
  private readonly forAgent: Database.Statement;
  private readonly all: Database.Statement;
  private readonly byStatus: Database.Statement;
  private readonly inQuarantine: Database.Statement;
  private readonly activeRefs: Database.Statement;

  constructor(db: Database.Database) {
    this.byId = db.prepare('SELECT * FROM sessions WHERE id = ?');
    this.byStatus = db.prepare('SELECT status, count(*) AS count FROM sessions GROUP BY status ORDER BY status');
    // A closed session takes no more messages: the next one opens a new session.
    this.forChat = db.prepare(
      `SELECT * FROM sessions WHERE agent_group_id = ? AND messaging_group_id = ? AND thread_id IS ? AND session_mode = ? AND status <> 'closed'`,
    );
    this.agentShared = db.prepare(`SELECT * FROM sessions WHERE agent_group_id = ? AND session_mode = 'agent-shared' AND status <> 'closed'`);
    this.forAgent = db.prepare('SELECT * FROM sessions WHERE agent_group_id = ? ORDER BY opened_position');
    this.all = db.prepare('SELECT * FROM sessions ORDER BY opened_position');
    this.activeRefs = db.prepare(`SELECT id, agent_group_id FROM sessions WHERE status = 'active' ORDER BY opened_position`);
    this.inQuarantine = db.prepare(`SELECT * FROM sessions WHERE status = 'quarantined' ORDER BY quarantined_position`);
  }

  /** Sessions whose folder the host set aside, in the order it did. */
  quarantined(): SessionRow[] {
    return this.inQuarantine.all() as SessionRow[];
  }

  get(id: string): SessionRow | undefined {
    return this.byId.get(id) as SessionRow | undefined;
  }

  /**
   * The session a message for this agent would join under the given mode: one per chat
   * (shared), per chat and thread (per-thread), or one for the agent group (agent-shared).
   */
  find(mode: SessionMode, agentGroupId: string, messagingGroupId: string, threadId: string | null): SessionRow | undefined {
    if (mode === 'agent-shared') return this.agentShared.get(agentGroupId) as SessionRow | undefined;
    return this.forChat.get(agentGroupId, messagingGroupId, mode === 'per-thread' ? threadId : null, mode) as SessionRow | undefined;
  }

  forAgentGroup(agentGroupId: string): SessionRow[] {
    return this.forAgent.all(agentGroupId) as SessionRow[];
  }

  countByStatus(): { status: string; count: number }[] {
    return this.byStatus.all() as { status: string; count: number }[];
  }

  list(): SessionRow[] {
    return this.all.all() as SessionRow[];
  }

  /** The active sessions' folder names only: read several times a second over every session, so two columns, not sixteen. */
  activeFolders(): SessionFolderRef[] {
    return this.activeRefs.all() as SessionFolderRef[];
  }
}
