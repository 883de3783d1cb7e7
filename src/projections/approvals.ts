import type Database from 'better-sqlite3';
import {
  ApprovalCardAttempted, ApprovalCardFailed, ApprovalCardSent, ApprovalDecided, ApprovalDecisionRefused, ApprovalExpired, ApprovalRequested, type ApprovalAction,
} from '../events/admin';
import { defineProjection } from './runner';

export interface ApprovalRow {
  approval_id: string;
  session_id: string;
  agent_group_id: string;
  outbound_id: string;
  action: ApprovalAction;
  payload: string;
  payload_hash: string;
  shown_text: string;
  admin_chat: string;
  status: 'pending' | 'approved' | 'rejected' | 'expired';
  requested_at: string;
  expires_at: string;
  decided_by: string | null;
  decided_at: string | null;
  reason: string | null;
  refused_attempts: number;
  card_status: 'pending' | 'sent' | 'failed';
  card_attempts: number;
  card_error: string | null;
}

/** One projection for every kind of approval request. */
export const approvalsProjection = defineProjection({
  name: 'approvals',
  tables: ['approvals'],
  bind(db, on) {
    const insert = db.prepare(
      `INSERT INTO approvals (approval_id, session_id, agent_group_id, outbound_id, action, payload, payload_hash, shown_text, admin_chat, status, requested_at, expires_at)
       VALUES (@approvalId, @sessionId, @agentGroupId, @outboundId, @action, @payload, @payloadHash, @shownText, @adminChat, 'pending', @at, @expiresAt)`,
    );
    const close = db.prepare(`UPDATE approvals SET status = @status, decided_by = @by, decided_at = @at, reason = @reason WHERE approval_id = @approvalId`);
    const refused = db.prepare('UPDATE approvals SET refused_attempts = refused_attempts + 1 WHERE approval_id = ?');
    on(ApprovalRequested, (data, event) =>
      insert.run({ ...data, payload: JSON.stringify(data.payload), adminChat: JSON.stringify(data.adminChat), at: event.metadata.recordedAt }),
    );
    on(ApprovalDecided, (data, event) => close.run({ approvalId: data.approvalId, status: data.decision, by: event.metadata.actor, at: event.metadata.recordedAt, reason: data.reason }));
    on(ApprovalExpired, (data, event) => close.run({ approvalId: data.approvalId, status: 'expired', by: event.metadata.actor, at: event.metadata.recordedAt, reason: null }));
    on(ApprovalDecisionRefused, (data) => refused.run(data.approvalId));
    const card = db.prepare(
      `UPDATE approvals SET card_attempts = @attempt, card_status = coalesce(@status, card_status), card_error = coalesce(@error, card_error) WHERE approval_id = @approvalId`,
    );
    on(ApprovalCardAttempted, (data) => card.run({ ...data, status: null, error: null }));
    on(ApprovalCardSent, (data) => card.run({ approvalId: data.approvalId, attempt: data.attempt, status: 'sent', error: null }));
    on(ApprovalCardFailed, (data) =>
      card.run({ approvalId: data.approvalId, attempt: data.attempt, status: data.final ? 'failed' : null, error: data.final ? `${data.errorClass}: ${data.error}` : null }),
    );
  },
});

export class ApprovalsView {
  private readonly byId: Database.Statement;
  private readonly byStatus: Database.Statement;
  private readonly all: Database.Statement;
  private readonly overdue: Database.Statement;
  private readonly cardDue: Database.Statement;

  constructor(db: Database.Database) {
    this.byId = db.prepare('SELECT * FROM approvals WHERE approval_id = ?');
    this.byStatus = db.prepare('SELECT * FROM approvals WHERE status = ? ORDER BY requested_at');
    this.all = db.prepare('SELECT * FROM approvals ORDER BY requested_at');
    // Compared as instants (julianday), not as strings.
    this.overdue = db.prepare(`SELECT * FROM approvals WHERE status = 'pending' AND julianday(expires_at) <= julianday(?) ORDER BY expires_at`);
    this.cardDue = db.prepare(`SELECT * FROM approvals WHERE status = 'pending' AND card_status = 'pending' ORDER BY requested_at`);
  }

  get(approvalId: string): ApprovalRow | undefined {
    return this.byId.get(approvalId) as ApprovalRow | undefined;
  }

  list(status?: ApprovalRow['status']): ApprovalRow[] {
    return (status ? this.byStatus.all(status) : this.all.all()) as ApprovalRow[];
  }

  /** Pending requests whose card is neither sent nor failed for good. */
  awaitingCard(): ApprovalRow[] {
    return this.cardDue.all() as ApprovalRow[];
  }

  /** Pending requests whose expiry is at or before the time. */
  expiredAt(time: string): ApprovalRow[] {
    return this.overdue.all(time) as ApprovalRow[];
  }
}
