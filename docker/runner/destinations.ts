import { readFileSync, statSync } from 'node:fs';

export type Destination =
  | { name: string; displayName: string; type: 'channel'; channelType: string; platformId: string }
  | { name: string; displayName: string; type: 'agent'; agentGroupId: string };

const isString = (value: unknown): value is string => typeof value === 'string' && value !== '';

/** An entry of the file, or undefined if it is not one this runner can route by. */
function asDestination(entry: unknown): Destination | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as Record<string, unknown>;
  if (!isString(e.name)) return undefined;
  const displayName = isString(e.displayName) ? e.displayName : e.name;
  if (e.type === 'channel' && isString(e.channelType) && isString(e.platformId)) return { name: e.name, displayName, type: 'channel', channelType: e.channelType, platformId: e.platformId };
  if (e.type === 'agent' && isString(e.agentGroupId)) return { name: e.name, displayName, type: 'agent', agentGroupId: e.agentGroupId };
  return undefined;
}

/**
 * The agent's destination map, from the file the host writes into the session folder.
 * The host rewrites it (atomically: a new file renamed into place) whenever the ACL
 * changes, so it is re-read whenever it changed: a new child agent can be addressed
 * without a restart (spec §10, stale destination map).
 */
export class DestinationMap {
  private destinations: Destination[] = [];
  /** inode, size and mtime of the file last loaded: a rename changes the inode even within one clock tick. */
  private loaded = '';

  constructor(private readonly path: string) {}

  /**
   * Re-reads the file if it changed and returns the names it now holds, or undefined if
   * nothing changed. A missing file keeps the map as it was (the host writes it before it
   * starts the agent); an unreadable one throws and is tried again on the next call.
   */
  refresh(): string[] | undefined {
    let signature: string;
    try {
      const stat = statSync(this.path);
      signature = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    } catch {
      return undefined;
    }
    if (signature === this.loaded) return undefined;
    const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as { destinations?: unknown };
    if (!Array.isArray(parsed.destinations)) throw new Error(`${this.path} has no "destinations" array`);
    this.destinations = parsed.destinations.flatMap((entry) => asDestination(entry) ?? []);
    this.loaded = signature;
    return this.destinations.map((d) => d.name);
  }

  all(): readonly Destination[] {
    return this.destinations;
  }

  byName(name: string): Destination | undefined {
    return this.destinations.find((d) => d.name === name);
  }

  /** The name under which this agent knows where a message came from; undefined if its map has none. */
  nameOf(channelType: string | null, platformId: string | null): string | undefined {
    if (channelType === null || platformId === null) return undefined;
    return this.destinations.find((d) =>
      channelType === 'agent' ? d.type === 'agent' && d.agentGroupId === platformId : d.type === 'channel' && d.channelType === channelType && d.platformId === platformId,
    )?.name;
  }

  /** The addendum to the system prompt: who can be addressed, and how. */
  promptAddendum(): string {
    const lines = this.destinations.map((d) => `- "${d.name}" (${d.displayName}, ${d.type === 'agent' ? 'an agent' : `a ${d.channelType} chat`})`);
    return [
      'You can send messages to these destinations, and only these:',
      ...(lines.length > 0 ? lines : ['- (none)']),
      'To send, write <message to="name">your text</message>; write one block per message.',
      'Anything outside such blocks, and anything inside <internal>…</internal>, is your private scratchpad and is not sent.',
    ].join('\n');
  }
}
