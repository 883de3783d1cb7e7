import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AgentGroupDeleted, AgentGroupUpdated } from '../events/agent-groups';
import type { RecordedEvent } from '../events/define';
import { DestinationAdded, DestinationRemoved } from '../events/destinations';
import { SessionOpened } from '../events/inbound';
import { MessagingGroupUpdated } from '../events/messaging-groups';
import type { Core } from '../core';
import { SessionReleased } from '../events/quarantine';
import type { Logger } from '../logger';
import type { Views } from '../projections';
import type { DestinationRow } from '../projections/destinations';
import type { SessionRow } from '../projections/sessions';
import type { Reactor } from './reactor';
import { sessionDir, writeFileAtomic } from './session-db';
import { SessionGuard } from './session-guard';

/** The agent runner reads its destination map from this file in the session folder (spec §2). */
export const DESTINATIONS_FILE = '.nanoclaw-destinations.json';

// Key order is part of the format: the reference wrote them in this order.
export type DestinationEntry =
  | { name: string; displayName: string; type: 'channel'; channelType: string; platformId: string }
  | { name: string; displayName: string; type: 'agent'; agentGroupId: string };

export interface DestinationsPayload {
  destinations: DestinationEntry[];
}

export type DestinationsFileViews = Pick<Views, 'destinations' | 'messagingGroups' | 'agentGroups'>;

/** The entry for one destination row, or undefined when its target no longer exists. */
function toEntry(views: DestinationsFileViews, row: DestinationRow): DestinationEntry | undefined {
  if (row.target_type === 'channel') {
    const chat = views.messagingGroups.get(row.target_id);
    return (
      chat && { name: row.local_name, displayName: chat.name ?? row.local_name, type: 'channel', channelType: chat.channel_type, platformId: chat.platform_id }
    );
  }
  const agent = views.agentGroups.get(row.target_id);
  return agent && { name: row.local_name, displayName: agent.name, type: 'agent', agentGroupId: agent.id };
}

/**
 * The agent group's current destination map, as the destinations file states it: in grant
 * order, as the reference wrote it. A runner names a sender by the first entry that matches
 * it, so of two names for one target the first granted is shown, as the host's own lookup does.
 */
export function buildDestinations(views: DestinationsFileViews, agentGroupId: string): DestinationsPayload {
  const granted = [...views.destinations.list(agentGroupId)].sort((a, b) => a.granted_at - b.granted_at);
  return { destinations: granted.flatMap((row) => toEntry(views, row) ?? []) };
}

/**
 * Writes the file atomically (the runner may read it at any moment), and only when its
 * content changed, so a reload watcher in the container fires on real changes alone.
 * Returns whether it wrote.
 */
export function writeDestinationsFile(dir: string, payload: DestinationsPayload): boolean {
  // This reactor may see a SessionOpened before the session-folder reactor does.
  mkdirSync(dir, { recursive: true });
  return writeFileAtomic(join(dir, DESTINATIONS_FILE), JSON.stringify(payload, null, 2));
}

// Sessions that may still run a container; a closed session's file is history.
const isOpen = (session: SessionRow) => session.status === 'active';

export interface DestinationsFileOptions {
  logger?: Logger;
  /** The failure policy shared with the other components that touch session folders. */
  guard?: SessionGuard;
}

/**
 * Keeps the destinations file of every open session equal to its agent group's ACL:
 * rewritten when a session opens, when the map changes, and when a target's name or
 * existence changes. It always writes the current map, so a replay only confirms it.
 */
export class DestinationsFileReactor implements Reactor {
  readonly name = 'destinations-file';
  readonly handles: ReadonlySet<string> = new Set(
    [SessionOpened, SessionReleased, DestinationAdded, DestinationRemoved, AgentGroupUpdated, AgentGroupDeleted, MessagingGroupUpdated].map((d) => d.type),
  );
  private readonly views: DestinationsFileViews & Pick<Views, 'sessions'>;
  private readonly guard: SessionGuard;

  constructor(
    private readonly dataDir: string,
    core: Pick<Core, 'views' | 'bus'>,
    options: DestinationsFileOptions = {},
  ) {
    this.views = core.views;
    this.guard = options.guard ?? new SessionGuard(core, options.logger ? { logger: options.logger } : {});
  }

  /** Returns the events whose rewrite a busy session folder put off: they are offered again. */
  handleBatch(events: readonly RecordedEvent[]): RecordedEvent[] {
    // Each agent group's files are written once per batch, from the map as it stands now.
    const affected = new Map<string, RecordedEvent>();
    for (const event of events) for (const agentGroupId of this.affectedAgentGroups(event)) affected.set(agentGroupId, event);
    return [...affected].filter(([agentGroupId, event]) => !this.rewrite(agentGroupId, event)).map(([, event]) => event);
  }

  /** Writes a session's destinations file now: for a session taken over from another host. */
  writeFor(sessionId: string): void {
    const session = this.views.sessions.get(sessionId);
    if (!session) return;
    const payload = buildDestinations(this.views, session.agent_group_id);
    this.guard.run(sessionId, this.name, { takeover: true }, () => writeDestinationsFile(sessionDir(this.dataDir, session.agent_group_id, sessionId), payload), 'takeover');
  }

  private affectedAgentGroups(event: RecordedEvent): string[] {
    if (SessionOpened.is(event) || SessionReleased.is(event) || DestinationAdded.is(event) || DestinationRemoved.is(event)) return [event.data.agentGroupId];
    if (AgentGroupUpdated.is(event) || AgentGroupDeleted.is(event)) return this.views.destinations.agentGroupsTargeting('agent', event.data.agentGroupId);
    if (MessagingGroupUpdated.is(event)) return this.views.destinations.agentGroupsTargeting('channel', event.data.messagingGroupId);
    return [];
  }

  /** Writes the group's map into each of its open sessions; false when a busy folder must be tried again. */
  private rewrite(agentGroupId: string, event: RecordedEvent): boolean {
    const sessions = this.views.sessions.forAgentGroup(agentGroupId).filter(isOpen);
    if (sessions.length === 0) return true;
    const payload = buildDestinations(this.views, agentGroupId);
    const evidence = { eventType: event.type, position: event.position };
    const outcomes = sessions.map((session) => this.guard.run(session.id, this.name, evidence, () => writeDestinationsFile(sessionDir(this.dataDir, agentGroupId, session.id), payload)));
    return outcomes.every((outcome) => outcome.status !== 'retry-later');
  }
}
