import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { filter, firstValueFrom, scan } from 'rxjs';
import type { ChannelAdapter } from '../src/adapters/channels/channel';
import { sessionDir } from '../src/adapters/session-db';
import { CreateAgentGroup } from '../src/commands/agent-groups';
import { receiveInbound } from '../src/commands/inbound';
import { RegisterMessagingGroup, WireChannel } from '../src/commands/messaging-groups';
import { RouteOutbound } from '../src/commands/outbound';
import { loadConfig } from '../src/config';
import { Host } from '../src/host';
import { createLogger } from '../src/logger';

/** The platform end of the benchmark: in-process, answers at once, so the host is what is measured. */
class InstantChannel implements ChannelAdapter {
  readonly channelType = 'bench';
  private sent = 0;
  async setup(): Promise<void> {}
  async teardown(): Promise<void> {}
  isConnected(): boolean {
    return true;
  }
  async deliver(): Promise<string> {
    return `pm-${++this.sent}`;
  }
}

interface OutboundFigures {
  sessions: number;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
}

/** Writes rows into a session's outbound.db as the container would (odd seq). */
function writeRows(dir: string, platformId: string, count: number): void {
  const db = new Database(join(dir, 'outbound.db'));
  db.pragma('journal_mode = DELETE');
  const insert = db.prepare(
    `INSERT INTO messages_out (id, seq, timestamp, kind, platform_id, channel_type, content) VALUES (?, ?, ?, 'chat', ?, 'bench', ?)`,
  );
  db.transaction(() => {
    for (let i = 0; i < count; i++) insert.run(`out-${i}`, 2 * i + 1, new Date().toISOString(), platformId, JSON.stringify({ text: `row ${i}` }));
  })();
  db.close();
}

async function measureOutbound(sessions: number, rowsPerSession: number): Promise<OutboundFigures> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-outbound-'));
  // The bench plays the agents, writing their rows itself: on the external runtime the host starts none (issue 16).
  const config = loadConfig({ dataDir }, { SWITCHYARD_POLL_INTERVAL_MS: '20', SWITCHYARD_RUNTIME: 'external' });
  const host = await Host.start(config, { channels: [new InstantChannel()], logger: createLogger('silent') });
  try {
    const { bus } = host.core;
    bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-bench', name: 'Bench', folder: 'bench' }));
    for (let s = 0; s < sessions; s++) {
      bus.dispatch(RegisterMessagingGroup.envelope(`mg-${s}`, { messagingGroupId: `mg-${s}`, channelType: 'bench', platformId: `p-${s}` }));
      bus.dispatch(WireChannel.envelope(`wire-${s}`, { messagingGroupId: `mg-${s}`, agentGroupId: 'ag-bench' }));
      bus.dispatch(receiveInbound({ channelType: 'bench', platformId: `p-${s}`, messageId: 'hello', content: { text: 'hi' }, timestamp: new Date().toISOString() }));
    }
    await host.settled();
    const total = sessions * rowsPerSession;
    const delivered = firstValueFrom(
      host.core.store.subscribe({ after: host.core.store.lastPosition() }).pipe(
        filter((event) => event.type === 'DeliverySucceeded'),
        scan((count) => count + 1, 0),
        filter((count) => count >= total),
      ),
    );
    const started = performance.now();
    for (const session of host.core.views.sessions.list()) {
      const chat = host.core.views.messagingGroups.get(session.messaging_group_id!)!;
      writeRows(sessionDir(dataDir, session.agent_group_id, session.id), chat.platform_id, rowsPerSession);
    }
    await delivered;
    const seconds = (performance.now() - started) / 1000;
    return { sessions, rows: total, seconds, rowsPerSecond: total / seconds };
  } finally {
    await host.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The ACL check on its own: the RouteOutbound decision against the live views, in µs. */
async function measureAclCheck(samples: number): Promise<{ p50: number; p99: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-acl-'));
  const host = await Host.start(loadConfig({ dataDir }, { SWITCHYARD_RUNTIME: 'external' }), { channels: [], logger: createLogger('silent') });
  try {
    const { bus, views } = host.core;
    bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-bench', name: 'Bench', folder: 'bench' }));
    for (let s = 0; s < 100; s++) {
      bus.dispatchBatch([
        RegisterMessagingGroup.envelope(`mg-${s}`, { messagingGroupId: `mg-${s}`, channelType: 'bench', platformId: `p-${s}` }),
        WireChannel.envelope(`wire-${s}`, { messagingGroupId: `mg-${s}`, agentGroupId: 'ag-bench' }),
      ]);
    }
    bus.dispatch(receiveInbound({ channelType: 'bench', platformId: 'p-0', messageId: 'hello', content: { text: 'hi' }, timestamp: new Date().toISOString() }));
    const sessionId = views.sessions.list()[0]!.id;
    const context = { commandId: 'bench', actor: 'host', issuedAt: new Date().toISOString(), correlationId: 'bench', causationId: 'bench' };
    const timings: number[] = [];
    for (let i = 0; i < samples; i++) {
      const row = {
        id: `out-${i}`, seq: 2 * i + 1, in_reply_to: null, timestamp: context.issuedAt, deliver_after: null, recurrence: null, kind: 'chat',
        platform_id: `p-${i % 120}`, channel_type: 'bench', thread_id: null, content: '{"text":"x"}',
      };
      const started = performance.now();
      RouteOutbound.decide(views, { sessionId, row }, context);
      timings.push((performance.now() - started) * 1000);
    }
    timings.sort((a, b) => a - b);
    return { p50: timings[Math.floor(samples * 0.5)]!, p99: timings[Math.floor(samples * 0.99)]! };
  } finally {
    await host.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export interface OutboundBench {
  single: OutboundFigures;
  concurrent: OutboundFigures;
  aclCheckMicros: { p50: number; p99: number };
}

/** rows/s from outbound.db to delivered for 1 and for 50 sessions, and the ACL check latency. */
export async function runOutboundBench(): Promise<OutboundBench> {
  const single = await measureOutbound(1, 2000);
  const concurrent = await measureOutbound(50, 100);
  const aclCheckMicros = await measureAclCheck(20_000);
  return { single, concurrent, aclCheckMicros };
}

export function printOutboundBench(result: OutboundBench): void {
  const line = (label: string, f: OutboundFigures) =>
    console.log(`${label.padEnd(26)}${f.rows.toLocaleString('en').padStart(7)} rows  ${f.seconds.toFixed(2).padStart(6)} s  ${Math.round(f.rowsPerSecond).toLocaleString('en').padStart(7)} rows/s`);
  console.log('\nOutbound path (outbound.db → RouteOutbound → delivery → DeliverySucceeded; synchronous=FULL)');
  line('  1 session', result.single);
  line('  50 concurrent sessions', result.concurrent);
  console.log(`  ratio 50 sessions / 1 session: ${(result.concurrent.rowsPerSecond / result.single.rowsPerSecond).toFixed(2)}`);
  console.log(`  ACL check (RouteOutbound decision, 120 chats, 100 granted): p50 ${result.aclCheckMicros.p50.toFixed(1)} µs  p99 ${result.aclCheckMicros.p99.toFixed(1)} µs`);
}

if (require.main === module) {
  runOutboundBench().then((result) => {
    printOutboundBench(result);
    console.log('BENCH_JSON ' + JSON.stringify({ outbound: result }));
  });
}
