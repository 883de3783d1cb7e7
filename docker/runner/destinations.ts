import { readFileSync, statSync } from 'node:fs';

export type Destination =
  | { name: string; displayName: string; type: 'channel'; channelType: string; platformId: string }
  | { name: string; displayName: string; type: 'agent'; agentGroupId: string };

/**
 * The agent's destination map, from the file the host writes into the session folder.
 * The host rewrites it whenever the ACL changes, so it is re-read whenever its mtime
 * changes: a new child agent can be addressed without a restart.
 */
export class DestinationMap {
  private destinations: Destination[] = [];
  private loadedMtime = -1;

  constructor(private readonly path: string) {}

  /** Re-reads the file if it changed; returns whether it did. */
  refresh(): boolean {
    let mtime: number;
    try {
      mtime = statSync(this.path).mtimeMs;
    } catch {
      return false;
    }
    if (mtime === this.loadedMtime) return false;
    const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as { destinations?: Destination[] };
    this.destinations = parsed.destinations ?? [];
    this.loadedMtime = mtime;
    return true;
  }

  all(): readonly Destination[] {
    return this.destinations;
  }

  byName(name: string): Destination | undefined {
    return this.destinations.find((d) => d.name === name);
  }

  /** The name under which this agent knows where a message came from (spec §3.5). */
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
