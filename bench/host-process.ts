import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChannelAdapter } from '../src/adapters/channels/channel';
import { WebhookChannel } from '../src/adapters/channels/webhook';
import { sessionDir } from '../src/adapters/session-db';
import { CreateAgentGroup, UpdateAgentGroup } from '../src/commands/agent-groups';
import { receiveInbound } from '../src/commands/inbound';
import { RegisterMessagingGroup, WireChannel } from '../src/commands/messaging-groups';
import { loadConfig } from '../src/config';
import { Host } from '../src/host';
import { createLogger } from '../src/logger';

/** The platform end of the benchmark: in-process, answers at once, so the host is what is measured. */
export class InstantChannel implements ChannelAdapter {
  readonly channelType = 'bench';
  private sent = 0;
  /** Called with each delivery's platform id, as it is delivered. */
  onDeliver: ((platformId: string) => void) | undefined;
  async setup(): Promise<void> {}
  async teardown(): Promise<void> {}
  isConnected(): boolean {
    return true;
  }
  async deliver(platformId: string): Promise<string> {
    this.onDeliver?.(platformId);
    return `pm-${++this.sent}`;
  }
}

/**
 * A host on the external runtime (the bench plays the agents, writing their rows itself,
 * so no agent process is measured) with `sessions` chats on `channel` (platform ids
 * p-0, p-1 …), each wired and with its session open.
 */
export async function startWithSessions<C extends ChannelAdapter>(
  sessions: number,
  channel: C,
  env: Record<string, string> = {},
): Promise<{ host: Host; channel: C; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-host-'));
  const host = await Host.start(loadConfig({ dataDir }, { SWITCHYARD_RUNTIME: 'external', ...env }), { channels: [channel], logger: createLogger('silent') });
  const { bus } = host.core;
  const { channelType } = channel;
  bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-bench', name: 'Bench', folder: 'bench' }));
  // The default 60 rows a minute would drop all but the first 60 rows as rate-limited (and the bench would wait for ever).
  bus.dispatch(UpdateAgentGroup.envelope('limits', { agentGroupId: 'ag-bench', outboundPerMinute: 100_000 }));
  // In batches: a thousand sessions are set up in seconds, not a thousand fsyncs each.
  for (let first = 0; first < sessions; first += 100) {
    bus.dispatchBatch(
      Array.from({ length: Math.min(100, sessions - first) }, (_, k) => first + k).flatMap((s) => [
        RegisterMessagingGroup.envelope(`mg-${s}`, { messagingGroupId: `mg-${s}`, channelType, platformId: `p-${s}` }),
        WireChannel.envelope(`wire-${s}`, { messagingGroupId: `mg-${s}`, agentGroupId: 'ag-bench' }),
        receiveInbound({ channelType, platformId: `p-${s}`, messageId: 'hello', content: { text: 'hi' }, timestamp: new Date().toISOString() }),
      ]),
    );
  }
  await host.settled();
  return { host, channel, dataDir };
}

export async function stopAndRemove(host: Host, dataDir: string): Promise<void> {
  await host.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

/**
 * A host in a process of its own, so what the bench reads of it (RSS, heap, CPU, open
 * descriptors) is the host's: not the bench's earlier rounds, nor the load generator,
 * nor the agents the bench plays. The parent drives it over IPC.
 */
export type HostSpec =
  /** `sessions` wired chats on an in-process channel that answers at once, each with its session open. */
  | { kind: 'idle'; sessions: number }
  /** `chats` webhook chats whose deliveries go to `deliverUrl`, each with its session open. */
  | { kind: 'webhook'; chats: number; deliverUrl: string };

/** What the host process holds and has spent so far, read by itself. */
export interface HostFigures {
  rssBytes: number;
  heapUsedBytes: number;
  /** CPU time (user + system) since the process started, in seconds. */
  cpuSeconds: number;
  fds: number;
  /** Events in the host's log. */
  position: number;
  /** DeliverySucceeded and DeliveryFailed events recorded since the host's sessions were opened. */
  deliveries: number;
  deliveryFailures: number;
}

export interface HostReady {
  /** The webhook channel's inbound URL (webhook kind). */
  url?: string;
  /** Each chat's session folder, by platform id. */
  sessionDirs: Record<string, string>;
}

type ToChild = { type: 'measure' } | { type: 'stop' };
type FromChild = { type: 'ready'; ready: HostReady } | { type: 'figures'; figures: HostFigures } | { type: 'stopped' };

export interface HostProcess {
  ready: HostReady;
  measure(): Promise<HostFigures>;
  stop(): Promise<void>;
}

/** Starts a host process as `spec` says and resolves once its sessions are open and their folders made. */
export function startHostProcess(spec: HostSpec): Promise<HostProcess> {
  const child = fork(__filename, [JSON.stringify(spec)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // The child answers each question in the order asked.
  const waiting: ((message: FromChild) => void)[] = [];
  const ask = (message: ToChild) =>
    new Promise<FromChild>((resolve) => {
      waiting.push(resolve);
      child.send(message);
    });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`host process exited with ${code}`));
    });
    child.on('message', (message: FromChild) => {
      if (message.type === 'ready') {
        resolve({
          ready: message.ready,
          measure: async () => ((await ask({ type: 'measure' })) as Extract<FromChild, { type: 'figures' }>).figures,
          stop: async () => {
            const exited = new Promise((done) => child.once('exit', done));
            await ask({ type: 'stop' });
            await exited;
          },
        });
      } else waiting.shift()?.(message);
    });
  });
}

async function startHost(spec: HostSpec): Promise<{ host: Host; dataDir: string; ready: HostReady }> {
  if (spec.kind === 'idle') {
    const { host, dataDir } = await startWithSessions(spec.sessions, new InstantChannel());
    return { host, dataDir, ready: { sessionDirs: sessionDirsOf(host, dataDir) } };
  }
  const channel = new WebhookChannel({ deliverUrl: spec.deliverUrl });
  const { host, dataDir } = await startWithSessions(spec.chats, channel);
  return { host, dataDir, ready: { url: `${channel.url()}/messages`, sessionDirs: sessionDirsOf(host, dataDir) } };
}

function sessionDirsOf(host: Host, dataDir: string): Record<string, string> {
  const { views } = host.core;
  return Object.fromEntries(views.sessions.list().map((session) => [views.messagingGroups.get(session.messaging_group_id!)!.platform_id, sessionDir(dataDir, session.agent_group_id, session.id)]));
}

async function runHostProcess(spec: HostSpec): Promise<void> {
  const { host, dataDir, ready } = await startHost(spec);
  let deliveries = 0;
  let deliveryFailures = 0;
  const outcomes = host.core.store
    .subscribe({ after: host.core.store.lastPosition(), type: ['DeliverySucceeded', 'DeliveryFailed'] })
    .subscribe((event) => (event.type === 'DeliveryFailed' ? deliveryFailures++ : deliveries++));
  const send = (message: FromChild) => process.send!(message);
  process.on('message', async (message: ToChild) => {
    if (message.type === 'measure') {
      const cpu = process.cpuUsage();
      const memory = process.memoryUsage();
      send({
        type: 'figures',
        figures: {
          rssBytes: memory.rss,
          heapUsedBytes: memory.heapUsed,
          cpuSeconds: (cpu.user + cpu.system) / 1e6,
          fds: readdirSync('/proc/self/fd').length,
          position: host.core.store.lastPosition(),
          deliveries,
          deliveryFailures,
        },
      });
    } else {
      outcomes.unsubscribe();
      await stopAndRemove(host, dataDir);
      send({ type: 'stopped' });
      process.disconnect();
    }
  });
  send({ type: 'ready', ready });
}

if (require.main === module) {
  runHostProcess(JSON.parse(process.argv[2]!) as HostSpec).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
