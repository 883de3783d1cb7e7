import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { CommandValidationError, type Outcome } from './commands/bus';
import type { CommandDefinition, CommandEnvelope } from './commands/define';
import { AddDestination, RemoveDestination } from './commands/destinations';
import { UnwireChannel, WireChannel } from './commands/messaging-groups';
import { judgeQuestion, questionInputs, rejudge, recordedJudgement, type Judgement } from './commands/rejudge';
import { openCore, type Core } from './core';
import type { RecordedEvent } from './events/define';
import { projections, type Views } from './projections';
import { groupKey, type QuestionGroup } from './projections/routing-decisions';

/**
 * A proposed change to routing, in the shape of the operator commands that would make
 * it. Each entry is validated by its command's own schema when it is applied.
 */
export const ProposedChange = z
  .object({
    addDestinations: z.array(z.unknown()).default([]),
    removeDestinations: z.array(z.unknown()).default([]),
    wire: z.array(z.unknown()).default([]),
    unwire: z.array(z.unknown()).default([]),
  })
  .strict();
export type ProposedChange = z.input<typeof ProposedChange>;

export type ChangeKind = keyof z.output<typeof ProposedChange>;

const WIRING_FORM = { shape: /^([^:]+):(.+)$/, names: ['messagingGroupId', 'agentGroupId'], expected: '<messaging-group>:<agent-group>' };

/** The one-line form of each kind of entry, as the CLI's flags and the console's form write it. */
const ENTRY_FORMS: Record<ChangeKind, { shape: RegExp; names: string[]; expected: string }> = {
  addDestinations: { shape: /^([^:=]+):([^=]+)=(channel|agent):(.+)$/, names: ['agentGroupId', 'localName', 'targetType', 'targetId'], expected: '<agent-group>:<name>=<channel|agent>:<target id>' },
  removeDestinations: { shape: /^([^:]+):(.+)$/, names: ['agentGroupId', 'localName'], expected: '<agent-group>:<name>' },
  wire: WIRING_FORM,
  unwire: WIRING_FORM,
};

/** One entry of a change from its one-line form, its parts named as its command's payload; a throw says the form expected. */
export function changeEntry(kind: ChangeKind, value: string): Record<string, string> {
  const { shape, names, expected } = ENTRY_FORMS[kind];
  const match = shape.exec(value);
  if (!match) throw new Error(`expected ${expected}, got "${value}"`);
  return Object.fromEntries(names.map((name, index) => [name, match[index + 1]!]));
}

export interface WhatIfWindow {
  /** Re-judge decisions after this position (0 = from the start). */
  after: number;
  /** … up to and including this one. */
  until: number;
  /** Only decisions that concern this agent group (recorded or proposed). */
  agentGroupId?: string;
}

export interface Flip {
  position: number;
  type: string;
  recordedAt: string;
  messageId: string;
  agentGroupId: string | null;
  recorded: Judgement;
  proposed: Judgement;
  /** 'change' when today's state without the change still gives the recorded answer; 'since-recorded' when it already differs. */
  cause: 'change' | 'since-recorded';
}

export interface WhatIfReport {
  window: WhatIfWindow;
  /** The commands the change was applied as, on a scratch copy of the routing read models. */
  applied: Array<{ type: string; events: string[] }>;
  decisions: number;
  flips: Flip[];
  byAgentGroup: Array<{ agentGroupId: string; routedToDropped: number; droppedToRouted: number }>;
}

/** The change could not be applied: which entry, and the command's refusal. */
export class ChangeRefusedError extends Error {
  constructor(
    readonly entry: string,
    readonly outcome: Extract<Outcome, { status: 'rejected' }>,
  ) {
    super(`${entry}: ${outcome.type} refused (${outcome.code}): ${outcome.message}`);
    this.name = 'ChangeRefusedError';
  }
}

/** The read models routing decides against; the audit and agent-message tables are not consulted. */
const ROUTING_PROJECTIONS = new Set(['agent-groups', 'messaging-groups', 'wirings', 'destinations', 'sessions']);

/** Removals first, so a change can free a name and grant it again to another target. */
function changeCommands(change: z.output<typeof ProposedChange>): Array<{ entry: string; envelope: CommandEnvelope }> {
  const each = (key: keyof typeof change, definition: CommandDefinition) =>
    change[key].map((payload, index) => ({
      entry: `${key}[${index}]`,
      envelope: { type: definition.type, commandId: `what-if:${key}:${index}`, payload, actor: 'operator:what-if' },
    }));
  return [each('removeDestinations', RemoveDestination), each('unwire', UnwireChannel), each('addDestinations', AddDestination), each('wire', WireChannel)].flat();
}

/**
 * A throwaway in-memory host holding a copy of today's routing read models: the change is
 * applied there through the real command bus, so it is validated and decided exactly as
 * the operator's commands would be, and nothing reaches the data directory.
 */
function scratchWithChange(source: Core, change: z.output<typeof ProposedChange>): { scratch: Core; applied: WhatIfReport['applied'] } {
  const scratch = openCore(':memory:');
  try {
    const tables = projections.filter((p) => ROUTING_PROJECTIONS.has(p.name)).flatMap((p) => p.tables);
    const copy = (table: string, where = '') => {
      const rows = source.store.db.prepare(`SELECT * FROM ${table} ${where}`).raw(true).all() as unknown[][];
      if (rows.length === 0) return;
      const insert = scratch.store.db.prepare(`INSERT INTO ${table} VALUES (${rows[0]!.map(() => '?').join(', ')})`);
      for (const row of rows) insert.run(row);
    };
    scratch.store.db.transaction(() => {
      for (const table of tables) copy(table);
      // So the change's events come after the log's newest, as they would on the log: a name the change grants is
      // newer than every name granted today, and the oldest grant to a target is the one credited with routing there.
      copy('events', 'WHERE position = (SELECT max(position) FROM events)');
    })();
    const applied = changeCommands(change).map(({ entry, envelope }) => {
      let outcome: Outcome;
      try {
        outcome = scratch.bus.dispatch(envelope);
      } catch (error) {
        if (!(error instanceof CommandValidationError)) throw error;
        throw new CommandValidationError(error.commandType, error.issues.map((issue) => ({ ...issue, path: issue.path.replace(/^payload/, entry) })));
      }
      if (outcome.status === 'rejected') throw new ChangeRefusedError(entry, outcome);
      return { type: outcome.type, events: outcome.events.map((event) => event.type) };
    });
    return { scratch, applied };
  } catch (error) {
    scratch.close();
    throw error;
  }
}

/**
 * Answers kept by the values they were asked with, one map level per value: no key string
 * is built on a path taken several times per decision. Bounded: past MAX_KEPT answers it
 * starts afresh (a log of distinct texts would otherwise keep one per message).
 */
class Answers<T> {
  private levels = new Map<unknown, unknown>();
  private kept = 0;

  get(values: readonly unknown[], answer: () => T): T {
    if (this.kept >= MAX_KEPT) {
      this.levels = new Map();
      this.kept = 0;
    }
    let level = this.levels;
    for (const value of values) {
      let next = level.get(value) as Map<unknown, unknown> | undefined;
      if (!next) level.set(value, (next = new Map()));
      level = next;
    }
    if (level.has(ANSWER)) return level.get(ANSWER) as T;
    const given = answer();
    level.set(ANSWER, given);
    this.kept++;
    return given;
  }
}

/** The key under which a level keeps its answer: no value asked with can be equal to it. */
const ANSWER = Symbol('answer');
const MAX_KEPT = 100_000;

/**
 * The scratch is not written while decisions are re-judged, so each view's answer to the
 * same question can be kept: the same few chats, wirings and ACL rows are asked about for
 * every decision.
 */
function frozen(views: Views): Views {
  const keep = (view: object): object => {
    // Reads of anything else fall through to the view itself.
    const kept = Object.create(view) as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(view))) {
      const method: unknown = (view as Record<string, unknown>)[name];
      if (name === 'constructor' || typeof method !== 'function') continue;
      const answers = new Answers<unknown>();
      kept[name] = (...args: unknown[]) => answers.get(args, () => method.apply(view, args));
    }
    return kept;
  };
  return Object.fromEntries(Object.entries(views).map(([name, view]) => [name, keep(view)])) as Views;
}

/**
 * The views with the rate limit's count answered as no rows. Only rows the limits did not
 * drop are re-judged (see droppedByLimit), so the count must find the allowance unspent, as
 * it did when each was decided; the audit's count has no upper bound, so on the live log it
 * would also count every row the session wrote after this one (a query per decision, too).
 */
function uncounted(views: Views): Views {
  const audit = Object.create(views.audit) as Views['audit'];
  audit.outboundSince = () => new Map();
  return { ...views, audit };
}

/**
 * The views the proposed judgements are made against. The scratch holds only the routing
 * read models, so it has no agent messages and no audit: those answers are given here
 * without asking SQLite.
 */
function proposedViews(scratch: Core): Views {
  const views = uncounted(frozen(scratch.views));
  views.audit.lastInboundPosition = () => null;
  const agentMessages = Object.create(views.agentMessages) as Views['agentMessages'];
  Object.assign(agentMessages, { chainOf: () => undefined, newestIn: () => undefined });
  return { ...views, agentMessages };
}

/**
 * Told how many positions of its window a judging has passed, now and then: for a
 * progress line, since a long log takes seconds.
 */
export type WhatIfProgress = (positionsDone: number) => void;

/**
 * Re-judges the decisions of one window against the scratch: how many, and which flip.
 * Most decisions ask a question asked before (the same agent group writing to the same
 * chat, the same chat's messages), and the routing-decisions read model keeps each one's
 * question (see decisionQuestion): SQLite gives the distinct questions of the window, each
 * is judged once on its first decision, and an event is read whole only when it is judged
 * in full or flips. Rows a limit dropped stay dropped (see droppedByLimit): only counted.
 */
function judgeWindow(core: Core, scratch: Core, window: WhatIfWindow, onProgress?: WhatIfProgress): { decisions: number; flips: Flip[] } {
  const proposed = proposedViews(scratch);
  const today = uncounted(core.views);
  const decisionsView = core.views.routingDecisions;
  const verdicts = new Answers<Judgement>();
  /** Whether a decision is in the window's agent group, recorded or proposed. */
  const concerns = (recorded: string | null, proposedFor: string | null) =>
    window.agentGroupId === undefined || recorded === window.agentGroupId || proposedFor === window.agentGroupId;
  // A row a limit dropped stays dropped, for the agent group it was recorded for.
  let decisions = decisionsView.droppedByLimits(window, window.agentGroupId);
  const flips: Flip[] = [];
  const flip = (event: RecordedEvent, recorded: Judgement, proposedJudgement: Judgement): Flip => {
    const data = event.data as { messageId?: string; outboundId?: string };
    return {
      position: event.position,
      type: event.type,
      recordedAt: event.metadata.recordedAt,
      messageId: data.messageId ?? data.outboundId ?? event.metadata.commandId,
      agentGroupId: recorded.agentGroupId ?? proposedJudgement.agentGroupId,
      recorded,
      proposed: proposedJudgement,
      cause: rejudge(today, event)!.routed === recorded.routed ? 'change' : 'since-recorded',
    };
  };
  const readAt = (position: number) => core.store.readAt(position)!;

  const flipping: Array<{ group: QuestionGroup; judgement: Judgement }> = [];
  for (const group of decisionsView.questionGroups(window)) {
    const inputs = questionInputs(proposed, group.question);
    const judgement = verdicts.get(inputs, () => judgeQuestion(proposed, inputs, () => readAt(group.example)));
    if (!concerns(group.agentGroupId, judgement.agentGroupId)) continue;
    decisions += group.decisions;
    if (judgement.routed !== group.routed) flipping.push({ group, judgement });
  }
  onProgress?.(window.until - window.after);
  const judgementOf = new Map(flipping.map(({ group, judgement }) => [groupKey(group), judgement]));
  for (const { position, group } of decisionsView.membersOf(window, flipping.map(({ group }) => group))) {
    const event = readAt(position);
    flips.push(flip(event, recordedJudgement(event)!, judgementOf.get(group)!));
  }
  for (const position of decisionsView.judgedInFull(window)) {
    const event = readAt(position);
    const recorded = recordedJudgement(event)!;
    const judgement = rejudge(proposed, event)!;
    if (!concerns(recorded.agentGroupId, judgement.agentGroupId)) continue;
    decisions++;
    if (judgement.routed !== recorded.routed) flips.push(flip(event, recorded, judgement));
  }
  return { decisions, flips: flips.sort((a, b) => a.position - b.position) };
}

/** Applies the change to a throwaway copy and drops it: the typed errors of a change that cannot be applied, early. */
export function checkChange(core: Core, proposed: ProposedChange): void {
  scratchWithChange(core, ProposedChange.parse(proposed)).scratch.close();
}

/** One slice of a window, judged on its own copy: what a worker thread does. */
export function judgeSlice(core: Core, proposed: ProposedChange, window: WhatIfWindow, onProgress?: WhatIfProgress) {
  const { scratch, applied } = scratchWithChange(core, ProposedChange.parse(proposed));
  try {
    return { applied, ...judgeWindow(core, scratch, window, onProgress) };
  } finally {
    scratch.close();
  }
}

/**
 * Re-judges every recorded inbound and outbound routing decision in the window against
 * today's state with the change applied, and lists those that would flip between routed
 * and dropped. Reads the log; writes nothing.
 */
export function whatIf(core: Core, proposed: ProposedChange, window: WhatIfWindow, onProgress?: WhatIfProgress): WhatIfReport {
  const { applied, decisions, flips } = judgeSlice(core, proposed, window, onProgress);
  return { window, applied, decisions, flips, byAgentGroup: countByAgentGroup(flips) };
}

/** What a what-if worker thread tells its parent: how far it has come, then its slice's result or its error. */
export type WorkerMessage = { progress: number } | { result: ReturnType<typeof judgeSlice> } | { error: { name: string; message: string } };

/** The compiled worker; absent when running from sources (ts-jest), where slices run in-process. */
const WORKER = join(__dirname, 'what-if-worker.js');

/** Whether whatIfParallel can run: the compiled worker is absent when running from sources (ts-jest). */
export const canJudgeInWorkers = (): boolean => existsSync(WORKER);

/**
 * The same report, with the window cut into `threads` slices of positions judged at once
 * in worker threads, each on its own connection and its own scratch copy: reading and
 * judging are CPU-bound, so this scales with cores.
 */
export async function whatIfParallel(databasePath: string, proposed: ProposedChange, window: WhatIfWindow, threads: number, onProgress?: WhatIfProgress): Promise<WhatIfReport> {
  if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: run \`npm run build\``);
  const size = Math.ceil((window.until - window.after) / threads);
  const slices = Array.from({ length: threads }, (_, i) => ({ ...window, after: window.after + i * size, until: Math.min(window.until, window.after + (i + 1) * size) }));
  const done = slices.map(() => 0);
  const results = await Promise.all(
    slices.map(
      (slice, index) =>
        new Promise<ReturnType<typeof judgeSlice>>((resolve, reject) => {
          const worker = new Worker(WORKER, { workerData: { databasePath, proposed, window: slice, reportProgress: onProgress !== undefined } });
          worker.on('message', (message: WorkerMessage) => {
            if ('progress' in message) {
              done[index] = message.progress;
              onProgress!(done.reduce((sum, n) => sum + n, 0));
            } else if ('result' in message) resolve(message.result);
            else reject(Object.assign(new Error(message.error.message), { name: message.error.name }));
          });
          worker.once('error', reject);
        }),
    ),
  );
  const flips = results.flatMap((r) => r.flips);
  return { window, applied: results[0]!.applied, decisions: results.reduce((sum, r) => sum + r.decisions, 0), flips, byAgentGroup: countByAgentGroup(flips) };
}

function countByAgentGroup(flips: readonly Flip[]): WhatIfReport['byAgentGroup'] {
  const counts = new Map<string, { agentGroupId: string; routedToDropped: number; droppedToRouted: number }>();
  for (const flip of flips) {
    const agentGroupId = flip.agentGroupId ?? '(none)';
    const count = counts.get(agentGroupId) ?? { agentGroupId, routedToDropped: 0, droppedToRouted: 0 };
    if (flip.recorded.routed) count.routedToDropped++;
    else count.droppedToRouted++;
    counts.set(agentGroupId, count);
  }
  return [...counts.values()].sort((a, b) => a.agentGroupId.localeCompare(b.agentGroupId));
}
