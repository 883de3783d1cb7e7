import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const HOST_FILE = 'host.json';

/**
 * What a running host is, beyond what its log says: when it started, where its channels
 * listen and whether they are connected. Facts of the process, not of the history, so
 * they live in the data directory next to the lease, not in the log; `status` reads them.
 */
export const HostFacts = z.object({
  pid: z.number().int(),
  startedAt: z.string(),
  /** When the channels' connections were last looked at. */
  checkedAt: z.string(),
  runtime: z.string(),
  /** With the log on PostgreSQL: its URL without the password. */
  store: z.string().optional(),
  /** With the log on PostgreSQL: the leases this host held when it last wrote this. */
  leases: z.array(z.string()).optional(),
  channels: z.array(z.object({ channelType: z.string(), url: z.string().nullable(), connected: z.boolean() })),
});
export type HostFacts = z.infer<typeof HostFacts>;

/** Written whole, then renamed: a reader never sees half of it. */
export function writeHostFacts(dataDir: string, facts: HostFacts): void {
  const path = join(dataDir, HOST_FILE);
  writeFileSync(`${path}.tmp`, JSON.stringify(facts, null, 2) + '\n');
  renameSync(`${path}.tmp`, path);
}

/** The facts a host wrote, if they are readable and its own: a stale or foreign file is no answer. */
export function readHostFacts(dataDir: string, pid: number): HostFacts | undefined {
  try {
    const facts = HostFacts.safeParse(JSON.parse(readFileSync(join(dataDir, HOST_FILE), 'utf8')));
    return facts.success && facts.data.pid === pid ? facts.data : undefined;
  } catch {
    return undefined;
  }
}

export function removeHostFacts(dataDir: string): void {
  rmSync(join(dataDir, HOST_FILE), { force: true });
}
