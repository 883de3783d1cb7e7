import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { filter, firstValueFrom, scan } from 'rxjs';
import { sessionDir } from '../src/adapters/session-db';
import { CreateAgentGroup } from '../src/commands/agent-groups';
import { receiveInbound } from '../src/commands/inbound';
import { RegisterMessagingGroup, WireChannel } from '../src/commands/messaging-groups';
import { RouteOutbound } from '../src/commands/outbound';
import { loadConfig } from '../src/config';
import { Host } from '../src/host';
import { createLogger } from '../src/logger';
import { InstantChannel, startHostProcess, startWithSessions, stopAndRemove } from './host-process';
import { count, percentile, verdict } from './measure';

/** Issue 16's targets for replies and for idle sessions. */
export const OUTBOUND_TARGET = { p50Ms: 20, p99Ms: 100, idleFds: 64, idleRssMiB: 200, idleCpuShare: 0.05 };

interface OutboundFigures {
  sessions: number;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
}

/** Writes rows `from`.. into a session's outbound.db as the container would (odd seq); returns when its commit returned (performance.now()). */
function writeRows(dir: string, platformId: string, rows: number, from = 0): number {
  const db = new Database(join(dir, 'outbound.db'));
  db.pragma('journal_mode = DELETE');
  const insert = db.prepare(
    `INSERT INTO messages_out (id, seq, timestamp, kind, platform_id, channel_type, content) VALUES (?, ?, ?, 'chat', ?, 'bench', ?)`,
  );
  db.transaction(() => {
    for (let i = from; i < from + rows; i++) insert.run(`out-${i}`, 2 * i + 1, new Date().toISOString(), platformId, JSON.stringify({ text: `row ${i}` }));
  })();
  const committed = performance.now();
  db.close();
  return committed;
}

async function measureOutbound(sessions: number, rowsPerSession: number): Promise<OutboundFigures> {
  const { host, dataDir } = await startWithSessions(sessions, new InstantChannel(), { SWITCHYARD_POLL_INTERVAL_MS: '20' });
  try {
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
    await stopAndRemove(host, dataDir);
  }
}

/**
 * Agent row → platform, one row at a time, with the host's default poll (250 ms) and its
 * folder watch: from the agent's commit to outbound.db to the channel's deliver call.
 */
async function measureReplyLatency(rows: number): Promise<{ p50: number; p99: number }> {
  const { host, channel, dataDir } = await startWithSessions(1, new InstantChannel());
  try {
    const session = host.core.views.sessions.list()[0]!;
    const dir = sessionDir(dataDir, session.agent_group_id, session.id);
    const latencies: number[] = [];
    for (let i = 0; i < rows; i++) {
      const delivered = new Promise<void>((resolve) => (channel.onDeliver = () => resolve()));
      // From the agent's commit: opening its file and syncing the row are the agent's time, not the host's.
      const committed = writeRows(dir, 'p-0', 1, i);
      await delivered;
      latencies.push(performance.now() - committed);
    }
    return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
  } finally {
    await stopAndRemove(host, dataDir);
  }
}

export interface IdleFigures {
  sessions: number;
  fds: number;
  rssBytes: number;
  /** Share of one core used by the host over the window. */
  cpuShare: number;
  seconds: number;
}

/**
 * `sessions` open sessions whose agents write nothing, under the default poll: what the
 * host process holds (file descriptors, RSS) and spends (CPU) once their handles have gone
 * idle. The host runs in a process of its own, so none of this is the bench's.
 */
async function measureIdleSessions(sessions: number, settleMs: number, windowMs: number): Promise<IdleFigures> {
  const host = await startHostProcess({ kind: 'idle', sessions });
  try {
    // Past the poller's idle time (10 s), so what is measured is the idle state.
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const before = await host.measure();
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const after = await host.measure();
    const seconds = (performance.now() - started) / 1000;
    return { sessions, fds: after.fds, rssBytes: after.rssBytes, cpuShare: (after.cpuSeconds - before.cpuSeconds) / seconds, seconds };
  } finally {
    await host.stop();
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
  replyMs: { p50: number; p99: number };
  idle: IdleFigures;
}

/** rows/s from outbound.db to delivered for 1 and for 50 sessions, the ACL check latency, reply latency, and 1,000 idle sessions. */
export async function runOutboundBench(quick = false): Promise<OutboundBench> {
  const single = await measureOutbound(1, 2000);
  const concurrent = await measureOutbound(50, 100);
  const aclCheckMicros = await measureAclCheck(20_000);
  const replyMs = await measureReplyLatency(quick ? 100 : 300);
  const idle = await measureIdleSessions(1_000, 12_000, quick ? 5_000 : 10_000);
  return { single, concurrent, aclCheckMicros, replyMs, idle };
}

export function printOutboundBench(result: OutboundBench): void {
  const line = (label: string, f: OutboundFigures) =>
    console.log(`${label.padEnd(26)}${f.rows.toLocaleString('en').padStart(7)} rows  ${f.seconds.toFixed(2).padStart(6)} s  ${Math.round(f.rowsPerSecond).toLocaleString('en').padStart(7)} rows/s`);
  console.log('\nOutbound path (outbound.db → RouteOutbound → delivery → DeliverySucceeded; synchronous=FULL)');
  line('  1 session', result.single);
  line('  50 concurrent sessions', result.concurrent);
  console.log(`  ratio 50 sessions / 1 session: ${(result.concurrent.rowsPerSecond / result.single.rowsPerSecond).toFixed(2)}`);
  console.log(`  ACL check (RouteOutbound decision, 120 chats, 100 granted): p50 ${result.aclCheckMicros.p50.toFixed(1)} µs  p99 ${result.aclCheckMicros.p99.toFixed(1)} µs`);
  const { replyMs, idle } = result;
  const replyMet = replyMs.p50 < OUTBOUND_TARGET.p50Ms && replyMs.p99 < OUTBOUND_TARGET.p99Ms;
  console.log(
    `  agent row → platform (one row at a time, default 250 ms poll, folder watch on): p50 ${replyMs.p50.toFixed(1)} ms  p99 ${replyMs.p99.toFixed(1)} ms` +
      `   target p50 < ${OUTBOUND_TARGET.p50Ms} ms, p99 < ${OUTBOUND_TARGET.p99Ms} ms  ${verdict(replyMet)}`,
  );
  const rssMiB = idle.rssBytes / 2 ** 20;
  const idleMet = idle.fds < OUTBOUND_TARGET.idleFds && rssMiB < OUTBOUND_TARGET.idleRssMiB && idle.cpuShare < OUTBOUND_TARGET.idleCpuShare;
  console.log(
    `  ${count(idle.sessions)} idle sessions (default poll, over ${idle.seconds.toFixed(0)} s): ${idle.fds} open fds, RSS ${rssMiB.toFixed(0)} MiB, ${(idle.cpuShare * 100).toFixed(1)}% of a core` +
      `   target < ${OUTBOUND_TARGET.idleFds} fds, < ${OUTBOUND_TARGET.idleRssMiB} MiB, < ${OUTBOUND_TARGET.idleCpuShare * 100}%  ${verdict(idleMet)}`,
  );
}

if (require.main === module) {
  runOutboundBench().then((result) => {
    printOutboundBench(result);
    console.log('BENCH_JSON ' + JSON.stringify({ outbound: result }));
  });
}
