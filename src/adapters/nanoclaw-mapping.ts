import { posix } from 'node:path';
import { normalizeLocalName } from '../commands/destinations';
import { compileTrigger } from '../commands/trigger';
import { z } from 'zod';
import { ContainerConfig, McpServer, type TriggerRules } from '../events/primitives';

/**
 * How a NanoClaw v2 row's values become Switchyard's, one field at a time: what maps
 * exactly is taken, what maps approximately is taken with a note saying how, and what
 * Switchyard cannot express is named in a note instead of refusing the row.
 */

/** The migrations (schema_version names) of the seed commit and of v2.0.64, in order. */
export const SEED_MIGRATIONS = ['initial-v2-schema', 'chat-sdk-state', 'pending-approvals', 'agent-destinations'] as const;
export const V2_0_64_MIGRATIONS = [
  ...SEED_MIGRATIONS,
  'pending-approvals-title-options',
  'dropped-messages',
  'drop-pending-credentials',
  'engage-modes',
  'pending-sender-approvals',
  'channel-registration',
  'approval-render-metadata',
  'container-configs',
  'cli-scope',
] as const;

export interface NanoclawVersion {
  /** `seed`, `v2.0.64`, or a description of where between (or beyond) them the database is. */
  label: string;
  migrations: number;
  /** Migrations this importer does not know (a newer NanoClaw, or a module's): their columns are not read. */
  unknown: string[];
}

/** Names the version from the schema_version rows (null: the table is missing). */
export function describeVersion(names: readonly string[] | null): NanoclawVersion {
  if (names === null) return { label: 'unversioned (no schema_version table): read by its columns', migrations: 0, unknown: [] };
  const known = new Set<string>(V2_0_64_MIGRATIONS);
  const unknown = names.filter((name) => !known.has(name));
  const has = new Set(names);
  const upTo = (list: readonly string[]) => list.every((name) => has.has(name));
  let label: string;
  if (upTo(V2_0_64_MIGRATIONS)) label = 'v2.0.64';
  else if (upTo(SEED_MIGRATIONS) && names.length - unknown.length === SEED_MIGRATIONS.length) label = 'seed';
  else label = `between seed and v2.0.64 (${V2_0_64_MIGRATIONS.filter((name) => has.has(name)).length} of its ${V2_0_64_MIGRATIONS.length} migrations)`;
  if (unknown.length > 0) label += ` with unknown migrations ${unknown.join(', ')}`;
  return { label, migrations: names.length, unknown };
}

/** A mapped value and what the mapping had to say about it. */
export interface Mapped<T> {
  value: T;
  notes: string[];
}

/** NanoClaw's wiring after its engage-modes migration (v2.0.54 on). */
export interface Engage {
  mode: string;
  pattern: string | null;
  senderScope: string;
  ignoredMessagePolicy: string;
}

const parseJsonObject = (text: string | null): Record<string, unknown> | undefined => {
  if (text === null || text === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * A seed wiring read as NanoClaw's own engage-modes migration read it when upgrading: a
 * pattern engages by pattern, requiresTrigger false or scope `all` engages on everything,
 * anything else on a mention; `allowlisted` keeps known senders only. At the seed the
 * trigger was stored but never evaluated, so the upgrade is the reference's only reading of it.
 */
export function engageOfSeedWiring(triggerRules: string | null, responseScope: string | null): Mapped<Engage> {
  const notes: string[] = [];
  let parsed = parseJsonObject(triggerRules);
  if (parsed === undefined) {
    notes.push(`trigger_rules is not a JSON object (${String(triggerRules).slice(0, 80)}): read as no trigger, as NanoClaw's upgrade reads it`);
    parsed = {};
  }
  const pattern = typeof parsed.pattern === 'string' && parsed.pattern.length > 0 ? parsed.pattern : null;
  const everything = parsed.requiresTrigger === false || responseScope === 'all';
  const value: Engage = {
    mode: pattern !== null || everything ? 'pattern' : 'mention',
    pattern: pattern ?? (everything ? '.' : null),
    senderScope: responseScope === 'allowlisted' ? 'known' : 'all',
    ignoredMessagePolicy: 'drop',
  };
  return { value, notes };
}

const escapeRegex = (text: string) => text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');

/**
 * A NanoClaw trigger pattern as a Switchyard one (RE2, always case-insensitive). `(?i)`
 * is dropped: it is what Switchyard does anyway. A pattern no regex engine accepts
 * (`?help`: NanoClaw never compiled it at the seed; from v2.0.54 its router failed open
 * on it, engaging on every message) is taken as the keyword it was meant to be: its
 * literal text, anywhere in the message. A real regex that RE2 cannot run in linear time
 * (lookaround, backreferences) is refused: guessing another meaning would route wrongly.
 */
export function mapTriggerPattern(pattern: string): Mapped<string> | { refused: string } {
  const notes: string[] = [];
  let source = pattern;
  if (/^\(\?i\)/.test(source)) {
    source = source.slice(4);
    notes.push('(?i) dropped: Switchyard matches every trigger case-insensitively');
  }
  const compiled = compileTrigger(source);
  if (compiled.regex) return { value: source, notes };
  let javascriptAccepts = true;
  try {
    new RegExp(source);
  } catch {
    javascriptAccepts = false;
  }
  if (javascriptAccepts) return { refused: `trigger pattern ${JSON.stringify(pattern)}: ${compiled.refused}` };
  notes.push(
    `trigger ${JSON.stringify(pattern)} is not a regular expression (${compiled.refused.replace(/ \(trigger patterns.*$/, '')}): matched as its literal text, anywhere in the message, ignoring case`,
  );
  return { value: escapeRegex(source), notes };
}

export interface MappedWiring {
  triggerRules: TriggerRules;
  responseScope: 'all' | 'triggered';
}

/**
 * An engage setting as Switchyard's trigger rules. Switchyard has no platform-mention
 * signal, no sender allowlist and no context accumulation: each is approximated or left
 * out, with a note saying so.
 */
export function wiringOfEngage(engage: Engage, agentGroupName: string): Mapped<MappedWiring> | { refused: string } {
  const notes: string[] = [];
  let value: MappedWiring;
  if (engage.mode === 'pattern' && (engage.pattern === null || engage.pattern === '.')) {
    value = { triggerRules: { requiresTrigger: false }, responseScope: 'all' };
  } else if (engage.mode === 'pattern') {
    const pattern = mapTriggerPattern(engage.pattern!);
    if ('refused' in pattern) return pattern;
    notes.push(...pattern.notes);
    value = { triggerRules: { pattern: pattern.value, requiresTrigger: true }, responseScope: 'triggered' };
  } else if (engage.mode === 'mention' || engage.mode === 'mention-sticky') {
    const mention = `@${escapeRegex(agentGroupName)}`;
    notes.push(
      `engage_mode '${engage.mode}' (a platform mention${engage.mode === 'mention-sticky' ? ', then every message of that thread' : ''}) ` +
        `approximated by the pattern ${mention}: Switchyard has no platform-mention signal`,
    );
    value = { triggerRules: { pattern: mention, requiresTrigger: true }, responseScope: 'triggered' };
  } else {
    return { refused: `unknown engage_mode ${JSON.stringify(engage.mode)} (NanoClaw treats it as never engaging)` };
  }
  if (engage.senderScope !== 'all') {
    notes.push(`sender_scope '${engage.senderScope}' not kept: Switchyard answers every sender in a wired chat`);
  }
  if (engage.ignoredMessagePolicy !== 'drop') {
    notes.push(`ignored_message_policy '${engage.ignoredMessagePolicy}' not kept: messages that do not engage are dropped, not kept as context`);
  }
  return { value, notes };
}

const PackageList = z.array(z.string());

const short = (value: unknown) => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
};
const firstIssue = (error: { issues: { path: PropertyKey[]; message: string }[] }) =>
  error.issues.map((issue) => `${issue.path.map(String).join('.') || '(value)'}: ${issue.message}`)[0] ?? 'invalid';

/**
 * A container config as Switchyard's, field by field: a field that does not fit is left
 * out with a note, never the whole agent group. A mount without containerPath gets the
 * reference's default, the host path's last segment (mounted at /workspace/extra/<it>).
 */
export function mapContainerConfig(raw: Record<string, unknown>): Mapped<ContainerConfig> {
  const notes: string[] = [];
  const config: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === null || value === undefined) continue;
    if (key === 'packages' && typeof value === 'object' && !Array.isArray(value)) {
      const packages: Record<string, unknown> = {};
      for (const [manager, list] of Object.entries(value as Record<string, unknown>)) {
        const parsed = PackageList.safeParse(list);
        if ((manager === 'apt' || manager === 'npm') && parsed.success) packages[manager] = parsed.data;
        else notes.push(`container_config.packages.${manager} not imported (${parsed.success ? 'Switchyard installs apt and npm packages only' : firstIssue(parsed.error)}): ${short(list)}`);
      }
      config.packages = packages;
    } else if (key === 'packages' || key === 'imageTag') {
      const parsed = ContainerConfig.shape[key].safeParse(value);
      if (parsed.success) config[key] = parsed.data;
      else notes.push(`container_config.${key} not imported (${firstIssue(parsed.error)}): ${short(value)}`);
    } else if (key === 'mcpServers') {
      if (typeof value !== 'object' || Array.isArray(value)) {
        notes.push(`container_config.mcpServers not imported (expected an object): ${short(value)}`);
        continue;
      }
      const servers: Record<string, unknown> = {};
      for (const [name, server] of Object.entries(value as Record<string, unknown>)) {
        const parsed = McpServer.safeParse(server);
        if (parsed.success) servers[name] = parsed.data;
        else notes.push(`container_config.mcpServers.${name} not imported (${firstIssue(parsed.error)}): ${short(server)}`);
      }
      config.mcpServers = servers;
    } else if (key === 'additionalMounts') {
      if (!Array.isArray(value)) {
        notes.push(`container_config.additionalMounts not imported (expected a list): ${short(value)}`);
        continue;
      }
      config.additionalMounts = value.flatMap((mount: unknown, i) => {
        const m = (typeof mount === 'object' && mount !== null ? mount : {}) as Record<string, unknown>;
        if (typeof m.hostPath !== 'string' || m.hostPath === '') {
          notes.push(`container_config.additionalMounts.${i} not imported (no hostPath): ${short(mount)}`);
          return [];
        }
        let containerPath = m.containerPath;
        if (containerPath === undefined || containerPath === null || containerPath === '') {
          containerPath = posix.basename(m.hostPath);
          notes.push(`container_config.additionalMounts.${i} (${m.hostPath}) has no containerPath: given ${JSON.stringify(containerPath)}, NanoClaw's default`);
        }
        const parsed = ContainerConfig.shape.additionalMounts.unwrap().element.safeParse({ ...m, containerPath });
        if (parsed.success) return [parsed.data];
        notes.push(`container_config.additionalMounts.${i} not imported (${firstIssue(parsed.error)}): ${short(mount)}`);
        return [];
      });
    } else {
      notes.push(`container_config.${key} not imported: Switchyard has no such setting (${short(value)})`);
    }
  }
  return { value: ContainerConfig.parse(config), notes };
}

/**
 * A destination's local name as Switchyard keeps it: accents folded to their letters
 * before the spec's normalization (`Équipe Ops ✨` → `equipe-ops`, not `quipe-ops`).
 */
export function importedLocalName(name: string): string {
  return normalizeLocalName(name.normalize('NFKD').replace(/\p{M}/gu, ''));
}
