import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AgentGroupCreated } from '../events/agent-groups';
import { AgentMessageDelivered } from '../events/agent-messages';
import type { RecordedEvent } from '../events/define';
import { SessionOpened } from '../events/inbound';
import { AgentInstructionsSet } from '../events/admin';
import { OutboundRouted } from '../events/outbound';
import type { Core } from '../core';
import { SessionReleased } from '../events/quarantine';
import type { Logger } from '../logger';
import { INBOUND_ROW_EVENT_TYPES, inProcessInboundWriter, type InboundWriter } from './inbound-writer';
import { SessionGuard } from './session-guard';
import type { Reactor } from './reactor';
import { ensureConfinedDir, groupDir, openInboundDb, refusingUnsafePaths, sessionDir, writeFileAtomic } from './session-db';

export interface SessionFolderOptions {
  logger?: Logger;
  /** The failure policy shared with the other components that touch session folders. */
  guard?: SessionGuard;
  /** Where the rows are written: in-process unless the host hands it a worker thread's. */
  writer?: InboundWriter;
}

/**
 * Materializes the folders of the log: groups/<folder> for each agent group, the session
 * folder with its databases for each session, and each routed message as a messages_in
 * row. Everything it does is idempotent, because after a restart it sees events again.
 */
export class SessionFolderReactor implements Reactor {
  readonly name = 'session-folder';
  readonly handles: ReadonlySet<string> = new Set([AgentGroupCreated.type, AgentInstructionsSet.type, SessionOpened.type, SessionReleased.type, ...INBOUND_ROW_EVENT_TYPES]);

  private readonly guard: SessionGuard;

  constructor(
    private readonly dataDir: string,
    private readonly core: Pick<Core, 'views' | 'bus' | 'store'>,
    private readonly options: SessionFolderOptions = {},
  ) {
    this.guard = options.guard ?? new SessionGuard(core, options.logger ? { logger: options.logger } : {});
  }

  /**
   * One inbound.db transaction per session per batch (each commit there costs fsyncs), each
   * session on its own: a session whose folder is busy gives its events back to be retried,
   * a tampered one is quarantined, and the others are written either way. The sessions'
   * writes run at once (in the writer's thread, one after another there).
   */
  async handleBatch(events: readonly RecordedEvent[]): Promise<RecordedEvent[]> {
    const bySession = new Map<string, RecordedEvent[]>();
    for (const event of events) {
      const sessionId = sessionOf(event);
      if (sessionId === undefined) this.applyToGroupFolder(event);
      else {
        const sessionEvents = bySession.get(sessionId);
        if (sessionEvents) sessionEvents.push(event);
        else bySession.set(sessionId, [event]);
      }
    }
    const outcomes = await Promise.all(
      [...bySession].map(async ([sessionId, sessionEvents]) => {
        const first = sessionEvents[0]!;
        const evidence = { eventType: first.type, position: first.position };
        const outcome = await this.guard.runAsync(sessionId, this.name, evidence, () => this.applyToSession(sessionId, sessionEvents));
        return outcome.status === 'retry-later' ? sessionEvents : [];
      }),
    );
    return outcomes.flat().sort((a, b) => a.position - b.position);
  }

  private applyToGroupFolder(event: RecordedEvent): void {
    refusingUnsafePaths(
      () => {
        if (AgentGroupCreated.is(event)) mkdirSync(groupDir(this.dataDir, event.data.folder), { recursive: true });
        else if (AgentInstructionsSet.is(event)) {
          const group = this.core.views.agentGroups.getIncludingDeleted(event.data.agentGroupId);
          if (group) writeFileAtomic(join(ensureConfinedDir(join(this.dataDir, 'groups'), group.folder), 'CLAUDE.md'), event.data.instructions);
        }
      },
      (error) =>
        this.options.logger?.error({ err: error, event: event.type, position: event.position, correlationId: event.metadata.correlationId }, 'group folder refused: event skipped'),
    );
  }

  /**
   * Writes a session's folder anew from its whole history into this host's data directory:
   * for a session taken over from a host that died, folder and all. A message the log shows
   * answered (an outbound row routed in reply to it) is written as completed, so the new
   * agent does not answer it again; what the dead agent read but never answered is pending.
   */
  async rematerialize(sessionId: string): Promise<void> {
    const history = this.history(sessionId, this.core.store.lastPosition());
    const answered = [...this.core.store.readAll({ type: OutboundRouted.type })].flatMap((event) =>
      OutboundRouted.is(event) && event.data.sessionId === sessionId && event.data.inReplyTo !== null ? [event.data.inReplyTo] : [],
    );
    await this.guard.runAsync(sessionId, this.name, { takeover: true }, () => this.writeTakenOver(sessionId, history, answered), 'takeover');
  }

  private async writeTakenOver(sessionId: string, history: readonly RecordedEvent[], answered: readonly string[]): Promise<void> {
    await this.applyToSession(sessionId, history);
    const session = this.core.views.sessions.get(sessionId);
    if (!session || answered.length === 0) return;
    const db = openInboundDb(sessionDir(this.dataDir, session.agent_group_id, sessionId));
    try {
      db.prepare("UPDATE messages_in SET status = 'completed' WHERE status = 'pending' AND id IN (SELECT value FROM json_each(?))").run(JSON.stringify(answered));
    } finally {
      db.close();
    }
  }

  /** A released session is written anew from its whole history: every write is idempotent, so what is there already stays. */
  private async applyToSession(sessionId: string, events: readonly RecordedEvent[]): Promise<void> {
    const session = this.core.views.sessions.get(sessionId);
    if (!session) return;
    const dir = sessionDir(this.dataDir, session.agent_group_id, sessionId);
    const toWrite = events.flatMap((event) => (SessionReleased.is(event) ? this.history(sessionId, event.position) : [event]));
    // SessionOpened made the folder, unless it was lost since; a message must not be.
    await (this.options.writer ?? inProcessInboundWriter).write(dir, toWrite);
  }

  /** The events before `position` that concern this session's folder, oldest first. */
  private history(sessionId: string, position: number): RecordedEvent[] {
    const types = [...this.handles].filter((type) => type !== SessionReleased.type);
    return [...this.core.store.readAll({ type: types, until: position })].filter((event) => sessionOf(event) === sessionId);
  }
}

/** The session whose folder an event is written to; undefined for the agent group's folder. */
function sessionOf(event: RecordedEvent): string | undefined {
  if (AgentMessageDelivered.is(event)) return event.data.targetSessionId;
  if (AgentGroupCreated.is(event) || AgentInstructionsSet.is(event)) return undefined;
  return (event.data as { sessionId?: string }).sessionId;
}
