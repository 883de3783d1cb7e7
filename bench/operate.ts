import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CreateAgentGroup } from '../src/commands/agent-groups';
import type { CommandEnvelope } from '../src/commands/define';
import { AddDestination, RemoveDestination } from '../src/commands/destinations';
import { receiveInbound } from '../src/commands/inbound';
import { RegisterMessagingGroup, WireChannel } from '../src/commands/messaging-groups';
import { routeOutbound } from '../src/commands/outbound';
import { explainMessage } from '../src/explain';
import { openCore, type Core } from '../src/core';
import { whatIfParallel, type WhatIfReport } from '../src/what-if';
import { count, median, timed } from './measure';

const AGENTS = 50;
const CHATS = 200;

/** A deterministic pseudo-random sequence, so every run judges the same history. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/**
 * A history of about `events` events through the bus: agent groups and chats wired, then
 * inbound messages (routed or dropped by trigger), outbound rows (routed or dropped by the
 * ACL) and destinations granted and revoked all along. `texts`: 'few' repeats two texts, as
 * a chat of commands would; 'distinct' gives every message its own, as people write.
 */
export function generateHistory(core: Core, events: number, texts: 'few' | 'distinct' = 'few'): void {
  const next = random(42);
  const pick = (n: number) => Math.floor(next() * n);
  const setup: CommandEnvelope[] = [];
  for (let a = 0; a < AGENTS; a++) setup.push(CreateAgentGroup.envelope(`ag-${a}`, { agentGroupId: `ag-${a}`, name: `Agent ${a}`, folder: `agent-${a}` }));
  for (let c = 0; c < CHATS; c++) {
    setup.push(RegisterMessagingGroup.envelope(`mg-${c}`, { messagingGroupId: `mg-${c}`, channelType: 'bench', platformId: `p-${c}`, name: `Chat ${c}` }));
    setup.push(WireChannel.envelope(`wire-${c}`, { messagingGroupId: `mg-${c}`, agentGroupId: `ag-${c % AGENTS}`, triggerRules: { pattern: '^@bot', requiresTrigger: c % 4 === 0 } }));
  }
  core.bus.dispatchBatch(setup);
  const time = Date.parse('2026-01-01T00:00:00Z');
  let n = 0;
  while (core.store.lastPosition() < events) {
    const batch: CommandEnvelope[] = [];
    const sessions = core.views.sessions.list().map((session) => session.id);
    for (let i = 0; i < 2000; i++, n++) {
      const roll = next();
      const timestamp = new Date(time + n * 1000).toISOString();
      if (roll < 0.45) {
        const chat = pick(CHATS);
        batch.push(receiveInbound({ channelType: 'bench', platformId: `p-${chat}`, messageId: `m-${n}`, content: { text: (next() < 0.5 ? '@bot hello' : 'chatter') + (texts === 'distinct' ? ` ${n}` : '') }, timestamp }));
      } else if (roll < 0.95 && sessions.length > 0) {
        batch.push(routeOutbound({ sessionId: sessions[pick(sessions.length)]!, row: { id: `out-${n}`, seq: 2 * n + 1, in_reply_to: null, timestamp, deliver_after: null, recurrence: null, kind: 'chat', platform_id: `p-${pick(CHATS)}`, channel_type: 'bench', thread_id: null, content: '{"text":"hi"}' } }));
      } else if (roll >= 0.95) {
        const agent = pick(AGENTS);
        const name = `extra-${pick(20)}`;
        batch.push(
          next() < 0.5
            ? AddDestination.envelope(`grant-${n}`, { agentGroupId: `ag-${agent}`, localName: name, targetType: 'channel', targetId: `mg-${pick(CHATS)}` })
            : RemoveDestination.envelope(`revoke-${n}`, { agentGroupId: `ag-${agent}`, localName: name }),
        );
      }
    }
    core.bus.dispatchBatch(batch);
  }
}

export interface OperateFigures {
  events: number;
  generationSeconds: number;
  explainMs: number;
  aclAtMs: number;
  aclAtTimeMs: number;
  whatIf: WhatIfFigures;
  /** The same on a smaller log where every message's text is its own: each inbound decision is a question of its own. */
  whatIfDistinctTexts: WhatIfFigures & { events: number };
}

interface WhatIfFigures {
  decisions: number;
  flips: number;
  ms: number;
  threads: number;
  decisionsPerSecond: number;
}

/** Distinct texts make each inbound decision a question of its own: a smaller log says as much. */
const DISTINCT_TEXTS_EVENTS = 100_000;

/** Median of `runs` timings of fn on fresh random inputs, in ms. */
function medianMs(runs: number, fn: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    fn();
    times.push(performance.now() - started);
  }
  return median(times);
}

export async function runOperateBench(dir: string, events: number): Promise<OperateFigures> {
  const core = openCore(join(dir, 'operate.db'), { synchronous: 'NORMAL' });
  try {
    const generation = await timed(() => generateHistory(core, events));
    const next = random(7);
    const last = core.store.lastPosition();
    const auditIds = core.store.db.prepare('SELECT audit_id FROM audit').pluck().all() as string[];
    const explainMs = medianMs(5, () => explainMessage(core, auditIds[Math.floor(next() * auditIds.length)]!));
    const agent = () => `ag-${Math.floor(next() * AGENTS)}`;
    const aclAtMs = medianMs(5, () => core.views.destinations.list(agent(), 1 + Math.floor(next() * last)));
    const aclAtTimeMs = medianMs(5, () => core.views.destinations.list(agent(), core.store.positionAt(new Date(Date.parse('2026-01-01T00:00:00Z') + next() * 3.6e8).toISOString())));
    const whatIf = await measureWhatIf(core, join(dir, 'operate.db'), agent);
    const distinctPath = join(dir, 'operate-distinct.db');
    const distinct = openCore(distinctPath, { synchronous: 'NORMAL' });
    try {
      generateHistory(distinct, Math.min(events, DISTINCT_TEXTS_EVENTS), 'distinct');
      const whatIfDistinctTexts = { events: distinct.store.lastPosition(), ...(await measureWhatIf(distinct, distinctPath, agent)) };
      return { events: last, generationSeconds: generation.seconds, explainMs, aclAtMs, aclAtTimeMs, whatIf, whatIfDistinctTexts };
    } finally {
      distinct.close();
    }
  } finally {
    core.close();
  }
}

/**
 * Revokes a random agent's chat destination and re-judges every decision of the whole log,
 * as the CLI does on a window this long: one worker thread per core. Median of 5.
 */
async function measureWhatIf(core: Core, path: string, agent: () => string): Promise<WhatIfFigures> {
  const threads = availableParallelism();
  const last = core.store.lastPosition();
  let report: WhatIfReport | undefined;
  const times: number[] = [];
  for (let run = 0; run < 5; run++) {
    const agentGroupId = agent();
    const localName = core.views.destinations.list(agentGroupId).find((d) => d.target_type === 'channel')!.local_name;
    const started = performance.now();
    report = await whatIfParallel(path, { removeDestinations: [{ agentGroupId, localName }] }, { after: 0, until: last }, threads);
    times.push(performance.now() - started);
  }
  const ms = median(times);
  return { decisions: report!.decisions, flips: report!.flips.length, ms, threads, decisionsPerSecond: report!.decisions / (ms / 1000) };
}

/** Issue 16's target for re-judging the 1M-event log, decisions a second. */
const WHAT_IF_TARGET = 250_000;

export function printOperateBench(f: OperateFigures): void {
  const target = (ms: number) => `target < 10 ms  ${ms < 10 ? 'PASS' : 'MISS'}`;
  console.log(`\nOperating from the log: ${count(f.events)} events through the bus (generated in ${f.generationSeconds.toFixed(1)} s, not a figure), median of 5`);
  console.log(`  explain <random message>        ${f.explainMs.toFixed(2).padStart(7)} ms   ${target(f.explainMs)}`);
  console.log(`  acl --at <random position>      ${f.aclAtMs.toFixed(2).padStart(7)} ms   ${target(f.aclAtMs)}`);
  console.log(`  acl --at <random time>          ${f.aclAtTimeMs.toFixed(2).padStart(7)} ms   ${target(f.aclAtTimeMs)}`);
  const w = f.whatIf;
  const whatIfLine = (label: string, figures: WhatIfFigures) =>
    `  ${label.padEnd(31)} ${figures.ms.toFixed(0).padStart(7)} ms   ${count(figures.decisions)} decisions, ${count(figures.flips)} flips, ${figures.threads} threads: ` +
    `${count(Math.round(figures.decisionsPerSecond))} decisions/s`;
  console.log(`${whatIfLine('what-if (revoke one, whole log)', w)}   target ≥ ${count(WHAT_IF_TARGET)}/s  ${w.decisionsPerSecond >= WHAT_IF_TARGET ? 'PASS' : 'MISS'}`);
  const d = f.whatIfDistinctTexts;
  console.log(`${whatIfLine('  every text distinct', d)}   (a log of ${count(d.events)} events; no target)`);
}
