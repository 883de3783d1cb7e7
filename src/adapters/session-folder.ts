import { mkdirSync } from 'node:fs';
import type Database from 'better-sqlite3';
import type { z } from 'zod';
import { AgentGroupCreated } from '../events/agent-groups';
import type { RecordedEvent } from '../events/define';
import { InboundRouted, SessionOpened } from '../events/inbound';
import type { Logger } from '../logger';
import { saveAttachments } from './attachments';
import type { Reactor } from './reactor';
import { groupDir, initSessionFolder, nextEvenSeq, openInboundDb, refusingUnsafePaths, sessionDir } from './session-db';

type InboundRoutedData = z.output<typeof InboundRouted.schema>;

export interface SessionFolderOptions {
  logger?: Logger;
}

/**
 * Materializes the folders of the log: groups/<folder> for each agent group, the session
 * folder with its databases for each session, and each routed message as a messages_in
 * row. Everything it does is idempotent, because after a restart it sees events again.
 */
export class SessionFolderReactor implements Reactor {
  readonly name = 'session-folder';
  readonly handles: ReadonlySet<string> = new Set([AgentGroupCreated.type, SessionOpened.type, InboundRouted.type]);

  constructor(
    private readonly dataDir: string,
    private readonly options: SessionFolderOptions = {},
  ) {}

  handle(event: RecordedEvent): void {
    refusingUnsafePaths(
      () => this.apply(event),
      (error) =>
        this.options.logger?.error(
          { err: error, event: event.type, position: event.position, correlationId: event.metadata.correlationId },
          'session folder refused: event skipped',
        ),
    );
  }

  private apply(event: RecordedEvent): void {
    if (AgentGroupCreated.is(event)) mkdirSync(groupDir(this.dataDir, event.data.folder), { recursive: true });
    else if (SessionOpened.is(event)) initSessionFolder(sessionDir(this.dataDir, event.data.agentGroupId, event.data.sessionId));
    else if (InboundRouted.is(event)) this.writeInbound(event.data);
  }

  private writeInbound(message: InboundRoutedData): void {
    const dir = sessionDir(this.dataDir, message.agentGroupId, message.sessionId);
    // SessionOpened made it, unless the folder was lost since; a message must not be.
    initSessionFolder(dir);
    const db = openInboundDb(dir);
    try {
      // Checked before anything else so that a replay writes no file and takes no seq.
      if (hasMessage(db, message.messageId)) return;
      const content = saveAttachments(dir, message.messageId, message.content);
      db.transaction(() => insertMessage(db, message, JSON.stringify(content))).immediate();
    } finally {
      db.close();
    }
  }
}

const hasMessage = (db: Database.Database, id: string): boolean =>
  db.prepare('SELECT 1 FROM messages_in WHERE id = ?').get(id) !== undefined;

/**
 * ON CONFLICT (id) is INSERT OR IGNORE narrowed to the one conflict that means "already
 * written": a clash on seq would be a bug, and must fail rather than lose the message.
 */
function insertMessage(db: Database.Database, message: InboundRoutedData, content: string): void {
  db.prepare(
    `INSERT INTO messages_in (id, seq, kind, timestamp, status, platform_id, channel_type, thread_id, content)
     VALUES (@id, @seq, @kind, @timestamp, 'pending', @platformId, @channelType, @threadId, @content)
     ON CONFLICT (id) DO NOTHING`,
  ).run({
    id: message.messageId,
    seq: nextEvenSeq(db),
    kind: message.kind,
    timestamp: message.timestamp,
    platformId: message.platformId,
    channelType: message.channelType,
    threadId: message.threadId,
    content,
  });
}
