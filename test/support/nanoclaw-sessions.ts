import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { NanoclawVersion } from './nanoclaw-install';

/**
 * The session databases exactly as the reference creates them (spec §2), without the
 * `IF NOT EXISTS` of Switchyard's own copy: a test of the import must read what NanoClaw
 * wrote, not what Switchyard would.
 */
export const NANOCLAW_INBOUND_SCHEMA = `
CREATE TABLE messages_in (id TEXT PRIMARY KEY, seq INTEGER UNIQUE, kind TEXT NOT NULL,
  timestamp TEXT NOT NULL, status TEXT DEFAULT 'pending', process_after TEXT,
  recurrence TEXT, tries INTEGER DEFAULT 0, platform_id TEXT, channel_type TEXT,
  thread_id TEXT, content TEXT NOT NULL);
CREATE TABLE delivered (message_out_id TEXT PRIMARY KEY, platform_message_id TEXT,
  status TEXT NOT NULL DEFAULT 'delivered', delivered_at TEXT NOT NULL);`;

export const NANOCLAW_OUTBOUND_SCHEMA = `
CREATE TABLE messages_out (id TEXT PRIMARY KEY, seq INTEGER UNIQUE, in_reply_to TEXT,
  timestamp TEXT NOT NULL, deliver_after TEXT, recurrence TEXT, kind TEXT NOT NULL,
  platform_id TEXT, channel_type TEXT, thread_id TEXT, content TEXT NOT NULL);
CREATE TABLE processing_ack (message_id TEXT PRIMARY KEY, status TEXT NOT NULL,
  status_changed TEXT NOT NULL);`;

export interface InboundRowSpec {
  id: string;
  seq: number;
  kind?: string;
  status?: string;
  tries?: number;
  platformId?: string | null;
  channelType?: string | null;
  threadId?: string | null;
  content: Record<string, unknown>;
}

export interface OutboundRowSpec {
  id: string;
  seq: number;
  kind?: string;
  inReplyTo?: string | null;
  platformId?: string | null;
  channelType?: string | null;
  threadId?: string | null;
  content: Record<string, unknown>;
}

export interface SessionFolderSpec {
  agentGroupId: string;
  sessionId: string;
  inbound?: InboundRowSpec[];
  outbound?: OutboundRowSpec[];
  /** The reference's `delivered` table: message_out_id → platform message id (status `delivered`). */
  delivered?: Record<string, string | null>;
  /** processing_ack: message id → `processing` | `completed` | `failed`. */
  acks?: Record<string, string>;
  /** Files by path relative to the session folder (`inbox/<id>/<name>`, `outbox/<id>/<name>`). */
  files?: Record<string, string>;
  /** Symlinks by path relative to the session folder → where they point. */
  links?: Record<string, string>;
}

const AT = '2026-01-02 03:04:05';

/** The seed's tables of cards waiting for a click (spec §1, §11); created here unless the central database has them. */
export const NANOCLAW_PENDING_SCHEMA = `
CREATE TABLE IF NOT EXISTS pending_approvals (approval_id TEXT PRIMARY KEY, session_id TEXT, request_id TEXT, action TEXT NOT NULL,
  payload TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending_questions (question_id TEXT PRIMARY KEY, session_id TEXT, message_out_id TEXT, platform_id TEXT,
  channel_type TEXT, thread_id TEXT, created_at TEXT NOT NULL);`;

/** `<nanoclawDir>/v2-sessions/<agent group>/<session>/` with both databases, as NanoClaw's host and runner left it. */
export function buildSessionFolder(nanoclawDir: string, spec: SessionFolderSpec): string {
  const dir = join(nanoclawDir, 'v2-sessions', spec.agentGroupId, spec.sessionId);
  mkdirSync(join(dir, 'inbox'), { recursive: true });
  mkdirSync(join(dir, 'outbox'), { recursive: true });
  const inbound = new Database(join(dir, 'inbound.db'));
  inbound.pragma('journal_mode = DELETE');
  inbound.exec(NANOCLAW_INBOUND_SCHEMA);
  const insertIn = inbound.prepare(
    `INSERT INTO messages_in (id, seq, kind, timestamp, status, tries, platform_id, channel_type, thread_id, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const row of spec.inbound ?? []) {
    insertIn.run(row.id, row.seq, row.kind ?? 'chat', AT, row.status ?? 'pending', row.tries ?? 0, row.platformId ?? null, row.channelType ?? null, row.threadId ?? null, JSON.stringify(row.content));
  }
  const insertDelivered = inbound.prepare(`INSERT INTO delivered (message_out_id, platform_message_id, status, delivered_at) VALUES (?, ?, 'delivered', ?)`);
  for (const [id, platformMessageId] of Object.entries(spec.delivered ?? {})) insertDelivered.run(id, platformMessageId, AT);
  inbound.close();

  const outbound = new Database(join(dir, 'outbound.db'));
  outbound.pragma('journal_mode = DELETE');
  outbound.exec(NANOCLAW_OUTBOUND_SCHEMA);
  const insertOut = outbound.prepare(
    `INSERT INTO messages_out (id, seq, in_reply_to, timestamp, kind, platform_id, channel_type, thread_id, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const row of spec.outbound ?? []) {
    insertOut.run(row.id, row.seq, row.inReplyTo ?? null, AT, row.kind ?? 'chat', row.platformId ?? null, row.channelType ?? null, row.threadId ?? null, JSON.stringify(row.content));
  }
  const insertAck = outbound.prepare('INSERT INTO processing_ack (message_id, status, status_changed) VALUES (?, ?, ?)');
  for (const [id, status] of Object.entries(spec.acks ?? {})) insertAck.run(id, status, AT);
  outbound.close();

  for (const [path, data] of Object.entries(spec.files ?? {})) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), data);
  }
  for (const [path, target] of Object.entries(spec.links ?? {})) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    symlinkSync(target, join(dir, path));
  }
  return dir;
}

/**
 * A NanoClaw install (on top of buildNanoclaw's seed topology) with a webhook chat wired to
 * Andy and a session folder holding one row of every kind the import must tell apart:
 * answered, pending and in-flight inbound rows; delivered (a chat reply, an
 * install_packages request, an agent-to-agent message, one written after an undelivered
 * row) and undelivered outbound rows, with inbox and outbox files and a planted symlink;
 * and the cards NanoClaw was waiting on: Andy's install_packages request (pending
 * approval `appr-old`) and its question `q-1` in the webhook chat.
 */
/** The web chat, its wiring and open cards, in the central database of each version (spec §11). */
const WEB_ROWS: Record<NanoclawVersion, string> = {
  seed: `
    INSERT INTO messaging_groups VALUES ('mg-web', 'webhook', 'web-1', 'Web', 1, 'u-web', '2026-01-01');
    INSERT INTO messaging_group_agents VALUES ('w3', 'mg-web', 'ag-andy', '{}', 'all', 'shared', 0, '2026-01-01');
    ${NANOCLAW_PENDING_SCHEMA}
    INSERT INTO pending_approvals VALUES ('appr-old', 'sess-web', 'out-sys', 'install_packages', '{"apt":["curl"],"npm":[],"reason":"needed"}', '2026-01-02');`,
  'v2.0.64': `
    INSERT INTO messaging_groups VALUES ('mg-web', 'webhook', 'web-1', 'Web', 1, 'strict', NULL, '2026-01-01');
    INSERT INTO messaging_group_agents VALUES ('w3', 'mg-web', 'ag-andy', 'shared', 0, '2026-01-01', 'pattern', '.', 'all', 'drop');
    INSERT INTO users VALUES ('webhook:u-web', 'webhook', 'Web admin', '2026-01-01');
    INSERT INTO user_roles VALUES ('webhook:u-web', 'admin', 'ag-andy', NULL, '2026-01-01');
    CREATE TABLE pending_approvals (approval_id TEXT PRIMARY KEY, session_id TEXT, request_id TEXT, action TEXT NOT NULL, payload TEXT NOT NULL,
      created_at TEXT NOT NULL, agent_group_id TEXT, channel_type TEXT, platform_id TEXT, platform_message_id TEXT, expires_at TEXT,
      status TEXT DEFAULT 'pending', title TEXT, options_json TEXT);
    CREATE TABLE pending_questions (question_id TEXT PRIMARY KEY, session_id TEXT, message_out_id TEXT, platform_id TEXT,
      channel_type TEXT, thread_id TEXT, created_at TEXT NOT NULL);
    INSERT INTO pending_approvals VALUES ('appr-old', 'sess-web', 'out-sys', 'install_packages', '{"apt":["curl"],"npm":[],"reason":"needed"}', '2026-01-02',
      'ag-andy', 'slack', 'C42', 'tg-9', '2099-01-01T00:00:00.000Z', 'pending', 'Install packages', '["Approve","Reject"]');
    INSERT INTO pending_approvals VALUES ('appr-done', 'sess-web', 'out-x', 'install_packages', '{"apt":["git"],"npm":[],"reason":"old"}', '2026-01-01',
      'ag-andy', 'slack', 'C42', 'tg-8', '2099-01-01T00:00:00.000Z', 'approved', 'Install packages', '["Approve","Reject"]');`,
};

export function addWebhookSession(nanoclawDir: string, version: NanoclawVersion = 'seed'): void {
  const db = new Database(join(nanoclawDir, 'v2.db'));
  db.exec(WEB_ROWS[version]);
  db.exec(`
    INSERT INTO agent_destinations VALUES ('ag-andy', 'worker-1', 'agent', 'ag-worker', '2026-01-01');
    INSERT INTO sessions VALUES ('sess-web', 'ag-andy', 'mg-web', NULL, NULL, 'active', 'running', NULL, '2026-01-01');
    INSERT INTO pending_questions VALUES ('q-1', 'sess-web', 'out-ask', 'web-1', 'webhook', NULL, '2026-01-02');
  `);
  db.close();
  const chat = { platformId: 'web-1', channelType: 'webhook' };
  buildSessionFolder(nanoclawDir, {
    agentGroupId: 'ag-andy',
    sessionId: 'sess-web',
    inbound: [
      { id: 'in-done', seq: 2, status: 'completed', ...chat, content: { text: 'answered before the switch' } },
      { id: 'in-pending', seq: 4, ...chat, content: { text: 'pending one', attachments: [{ name: 'note.txt', localPath: 'inbox/in-pending/note.txt' }] } },
      { id: 'in-flight', seq: 6, tries: 1, ...chat, content: { text: 'in flight' } },
    ],
    outbound: [
      { id: 'out-old', seq: 1, inReplyTo: 'in-done', ...chat, content: { text: 'already delivered' } },
      { id: 'out-sys', seq: 3, kind: 'system', content: { action: 'install_packages', apt: ['curl'], npm: [], reason: 'needed' } },
      { id: 'out-a2a', seq: 5, platformId: 'ag-worker', channelType: 'agent', content: { text: 'hello worker' } },
      { id: 'out-undelivered', seq: 7, ...chat, content: { text: 'undelivered reply', files: ['report.txt'] } },
      { id: 'out-late', seq: 9, ...chat, content: { text: 'delivered after an undelivered one' } },
      { id: 'out-ask', seq: 11, ...chat, content: { type: 'ask_question', questionId: 'q-1', question: 'Proceed?', options: ['Yes', 'No'] } },
    ],
    delivered: { 'out-old': 'tg-1', 'out-sys': null, 'out-a2a': null, 'out-late': 'tg-2', 'out-ask': 'tg-3' },
    acks: { 'in-done': 'completed', 'in-flight': 'processing' },
    files: { 'inbox/in-pending/note.txt': 'the attachment', 'outbox/out-undelivered/report.txt': 'the report' },
    links: { 'inbox/in-pending/passwd': '/etc/passwd' },
  });
}
