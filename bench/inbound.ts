import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { WebhookChannel } from '../src/adapters/channels/webhook';
import { CreateAgentGroup } from '../src/commands/agent-groups';
import { RegisterMessagingGroup, WireChannel } from '../src/commands/messaging-groups';
import { loadConfig } from '../src/config';
import { openDatabase } from '../src/db/sqlite';
import { Host } from '../src/host';
import { createLogger } from '../src/logger';
import { count, percentile, ratio, verdict } from './measure';

/** Chats the messages are spread over, each wired to the agent: one session (one inbound.db) each. One, as issue 16 measured the reference. */
const CHATS = 1;
/** Issue 16's targets, and the reference's direct write path it measured on this machine. */
export const INBOUND_TARGET = { rawRatioAt64: 1.0, referenceMsgPerSecond: 620, referenceMultiple: 4, p99AckMsAt64: 50, p50AckMsAt1: 5 };

export interface InboundFigures {
  clients: number;
  messages: number;
  messagesPerSecond: number;
  ackMs: { p50: number; p99: number };
  rowMs: { p50: number; p99: number };
}

export interface InboundBench {
  rawPerSecond: number;
  levels: InboundFigures[];
}

/** The disk's own limit: single-row transactions, WAL, synchronous=FULL, in the same directory. */
function rawSingleRowRate(dir: string, rows: number): number {
  const db = openDatabase(join(dir, 'raw-inbound.db'), { synchronous: 'FULL' });
  try {
    db.exec('CREATE TABLE messages (id INTEGER PRIMARY KEY, platform_id TEXT, body TEXT)');
    const insert = db.prepare('INSERT INTO messages (platform_id, body) VALUES (?, ?)');
    const once = db.transaction((i: number) => insert.run(`chat-${i % CHATS}`, JSON.stringify({ text: `hello ${i}` })));
    const started = performance.now();
    for (let i = 0; i < rows; i++) once.immediate(i);
    return rows / ((performance.now() - started) / 1000);
  } finally {
    db.close();
  }
}

/** A platform that answers every POST (the typing notices) at once. */
export async function startPlatform(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export function post(url: string, agent: Agent, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/**
 * `clients` keep-alive HTTP clients POST `messages` messages to the webhook channel of a
 * running host (external runtime, synchronous=FULL), each sending its next message when
 * the last was acknowledged. Per message: the ack (202) and the moment its row is in the
 * session's inbound.db (the folder writer has handled its InboundRouted), from the POST.
 */
export async function measureWebhook(dir: string, clients: number, messages: number): Promise<InboundFigures> {
  const dataDir = mkdtempSync(join(dir, 'inbound-'));
  const platform = await startPlatform();
  const channel = new WebhookChannel({ deliverUrl: platform.url });
  const host = await Host.start(loadConfig({ dataDir }, { SWITCHYARD_RUNTIME: 'external' }), { channels: [channel], logger: createLogger('silent') });
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  try {
    const { bus, views } = host.core;
    bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-bench', name: 'Bench', folder: 'bench' }));
    for (let c = 0; c < CHATS; c++) {
      bus.dispatch(RegisterMessagingGroup.envelope(`mg-${c}`, { messagingGroupId: `mg-${c}`, channelType: 'webhook', platformId: `chat-${c}` }));
      bus.dispatch(WireChannel.envelope(`wire-${c}`, { messagingGroupId: `mg-${c}`, agentGroupId: 'ag-bench' }));
    }
    const url = `${channel.url()}/messages`;
    // The sessions open (and their folders are made) before the clock starts.
    for (let c = 0; c < CHATS; c++) await post(url, agent, { platformId: `chat-${c}`, messageId: 'warm-up', content: { text: 'hi' } });
    await host.settled();

    const folderWriter = host.reactors[0]!;
    const acks: number[] = [];
    const rows: Promise<number>[] = [];
    let next = 0;
    const client = async () => {
      while (next < messages) {
        const i = next++;
        const platformId = `chat-${i % CHATS}`;
        const sent = performance.now();
        const status = await post(url, agent, { platformId, messageId: `m-${i}`, content: { text: `hello ${i}` } });
        if (status !== 202) throw new Error(`message ${i} answered ${status}`);
        acks.push(performance.now() - sent);
        const [routed] = views.audit.trace(`inbound:webhook:${platformId}:m-${i}`);
        rows.push(folderWriter.caughtUp(routed).then(() => performance.now() - sent));
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: clients }, client));
    const rowMs = await Promise.all(rows);
    const seconds = (performance.now() - started) / 1000;
    return { clients, messages, messagesPerSecond: messages / seconds, ackMs: percentiles(acks), rowMs: percentiles(rowMs) };
  } finally {
    agent.destroy();
    await host.stop();
    await new Promise((resolve) => platform.server.close(resolve));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const percentiles = (values: number[]) => ({ p50: percentile(values, 0.5), p99: percentile(values, 0.99) });

export async function runInboundBench(dir: string, quick: boolean): Promise<InboundBench> {
  const scale = quick ? 0.5 : 1;
  const rawPerSecond = rawSingleRowRate(dir, Math.round(2_000 * scale));
  const levels: InboundFigures[] = [];
  for (const [clients, messages] of [[1, 500], [16, 3_000], [64, 6_000]] as const) levels.push(await measureWebhook(dir, clients, Math.round(messages * scale)));
  return { rawPerSecond, levels };
}

export function printInboundBench({ rawPerSecond, levels }: InboundBench): void {
  console.log(`\nWebhook inbound: POST /messages → 202 → row in the session's inbound.db; ${CHATS} wired chats, keep-alive clients, WAL, synchronous=FULL`);
  console.log(`  raw single-row FULL transactions on the same disk: ${count(rawPerSecond)} rows/s`);
  const ms = (value: number) => value.toFixed(1).padStart(6);
  for (const f of levels) {
    const vsRaw = f.messagesPerSecond / rawPerSecond;
    let targets = '';
    if (f.clients === 64) {
      const met = vsRaw >= INBOUND_TARGET.rawRatioAt64 && f.messagesPerSecond >= INBOUND_TARGET.referenceMultiple * INBOUND_TARGET.referenceMsgPerSecond && f.ackMs.p99 < INBOUND_TARGET.p99AckMsAt64;
      targets = `   target >= ${ratio(INBOUND_TARGET.rawRatioAt64)}x raw, >= ${count(INBOUND_TARGET.referenceMultiple * INBOUND_TARGET.referenceMsgPerSecond)} msg/s, p99 ack < ${INBOUND_TARGET.p99AckMsAt64} ms  ${verdict(met)}`;
    } else if (f.clients === 1) targets = `   target p50 ack < ${INBOUND_TARGET.p50AckMsAt1} ms  ${verdict(f.ackMs.p50 < INBOUND_TARGET.p50AckMsAt1)}`;
    console.log(
      `  ${String(f.clients).padStart(2)} clients ${count(f.messages, 6)} msgs ${count(f.messagesPerSecond, 6)} msg/s  ratio to raw ${ratio(vsRaw)}   ` +
        `ack p50 ${ms(f.ackMs.p50)} ms p99 ${ms(f.ackMs.p99)} ms   row p50 ${ms(f.rowMs.p50)} ms p99 ${ms(f.rowMs.p99)} ms${targets}`,
    );
  }
}
