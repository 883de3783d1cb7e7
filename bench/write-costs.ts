import { join } from 'node:path';
import { CreateAgentGroup } from '../src/commands/agent-groups';
import { WakeSession } from '../src/commands/containers';
import { receiveInbound } from '../src/commands/inbound';
import { RegisterMessagingGroup, WireChannel } from '../src/commands/messaging-groups';
import { openCore, type Core } from '../src/core';
import { count, median, ratio, timed } from './measure';

/** Chats, each wired to the agent: one session each, whose first message wakes it. */
const CHATS = 200;
const WAKE = { runtime: 'process', defaultImage: 'bench-image' } as const;

export interface RoutedRound {
  /** Routed messages per second, each ReceiveInbound deciding its own wake. */
  inline: number;
  /** The same messages, each followed by its WakeSession command, as before the wake moved into ReceiveInbound. */
  separate: number;
  ratio: number;
}

export interface WriteCostsBench {
  messages: number;
  /** Committed transactions per routed message, each way. */
  transactionsPerMessage: { inline: number; separate: number };
  rounds: RoutedRound[];
  median: RoutedRound;
}

function seeded(path: string): Core {
  const core = openCore(path, { synchronous: 'FULL' });
  core.bus.dispatchBatch([
    CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-bench', name: 'Bench', folder: 'bench' }),
    ...Array.from({ length: CHATS }, (_, c) => [
      RegisterMessagingGroup.envelope(`mg-${c}`, { messagingGroupId: `mg-${c}`, channelType: 'webhook', platformId: `chat-${c}` }),
      WireChannel.envelope(`wire-${c}`, { messagingGroupId: `mg-${c}`, agentGroupId: 'ag-bench' }),
    ]).flat(),
  ]);
  return core;
}

/** One message per chat, one command (or two) at a time: every one opens a session and starts its agent. */
async function routeAll(path: string, inlineWake: boolean): Promise<{ perSecond: number; transactionsPerMessage: number }> {
  const core = seeded(path);
  try {
    if (inlineWake) core.views.host.wake = WAKE;
    const before = core.store.committedTransactions();
    const { seconds } = await timed(() => {
      for (let c = 0; c < CHATS; c++) {
        const outcome = core.bus.dispatch(receiveInbound({ channelType: 'webhook', platformId: `chat-${c}`, messageId: `m-${c}`, content: { text: 'hi' }, timestamp: '2026-12-02T00:00:00.000Z' }));
        if (outcome.status !== 'accepted') throw new Error(`bench message ${c} was not routed: ${JSON.stringify(outcome)}`);
        if (inlineWake) continue;
        const routed = outcome.events.find((event) => event.type === 'InboundRouted')!;
        const sessionId = core.views.sessions.list().find((s) => s.messaging_group_id === `mg-${c}`)!.id;
        core.bus.dispatch(WakeSession.envelope(`wake:${sessionId}:${routed.position}`, { sessionId, wokenBy: 'inbound', ...WAKE }));
      }
    });
    const starts = [...core.store.readAll({ type: 'ContainerStarting' })].length;
    if (starts !== CHATS) throw new Error(`expected ${CHATS} agent starts, got ${starts}`);
    return { perSecond: CHATS / seconds, transactionsPerMessage: (core.store.committedTransactions() - before) / CHATS };
  } finally {
    core.close();
  }
}

export async function runWriteCostsBench(dir: string, rounds: number): Promise<WriteCostsBench> {
  const results: RoutedRound[] = [];
  let transactionsPerMessage = { inline: 0, separate: 0 };
  for (let round = 0; round < rounds; round++) {
    // Alternating which goes first, so neither always gets the warmer page cache.
    const order = round % 2 === 0 ? [true, false] : [false, true];
    const measured = new Map<boolean, { perSecond: number; transactionsPerMessage: number }>();
    for (const inline of order) measured.set(inline, await routeAll(join(dir, `routed-${inline ? 'inline' : 'separate'}-${round}.db`), inline));
    const inline = measured.get(true)!;
    const separate = measured.get(false)!;
    transactionsPerMessage = { inline: inline.transactionsPerMessage, separate: separate.transactionsPerMessage };
    results.push({ inline: inline.perSecond, separate: separate.perSecond, ratio: inline.perSecond / separate.perSecond });
  }
  return {
    messages: CHATS,
    transactionsPerMessage,
    rounds: results,
    median: { inline: median(results.map((r) => r.inline)), separate: median(results.map((r) => r.separate)), ratio: median(results.map((r) => r.ratio)) },
  };
}

export function printWriteCostsBench(f: WriteCostsBench): void {
  console.log(`\nRouted message that opens a session and starts its agent, one at a time, synchronous=FULL (${count(f.messages)} messages, median of ${f.rounds.length} rounds)`);
  console.log(`  transactions per message: wake in ReceiveInbound ${f.transactionsPerMessage.inline}   WakeSession after it ${f.transactionsPerMessage.separate}`);
  const line = (prefix: string, r: RoutedRound) =>
    `    ${prefix.padEnd(8)}wake inline ${count(r.inline, 6)} msg/s   wake as a second command ${count(r.separate, 6)} msg/s   ratio ${ratio(r.ratio)}`;
  f.rounds.forEach((r, i) => console.log(line(`round ${i + 1}`, r)));
  console.log(line('median', f.median));
}
