#!/usr/bin/env node
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseBlocks } from './blocks';
import { DestinationMap } from './destinations';
import { providerFor, type Provider } from './providers';
import { SessionDatabases, type InboundMessage, type OutboundRow } from './session';

/** One JSON line per event on stderr: the host keeps the tail of it when the agent stops. */
const log = (event: string, fields: Record<string, unknown> = {}) => process.stderr.write(JSON.stringify({ time: new Date().toISOString(), event, ...fields }) + '\n');

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: the host sets it for every agent (spec §2)`);
  return value;
}

/** What the model reads of a message: its text, or a task's prompt. */
function textOf(message: InboundMessage): string {
  try {
    const content = JSON.parse(message.content) as { text?: unknown; prompt?: unknown };
    if (typeof content.text === 'string') return content.text;
    if (typeof content.prompt === 'string') return content.prompt;
  } catch {
    // not JSON: the content is the text
  }
  return message.content;
}

/** One messages_out row per block, routed by this agent's own map. */
function route(message: InboundMessage, output: string, destinations: DestinationMap): OutboundRow[] {
  const { blocks, scratchpad } = parseBlocks(output);
  for (const note of scratchpad) log('Scratchpad', { messageId: message.id, text: note.slice(0, 2000) });
  return blocks.map(({ to, body }): OutboundRow => {
    const destination = destinations.byName(to);
    const base = { inReplyTo: message.id, content: { text: body } };
    if (!destination) {
      // Sent anyway, without routing: the host decides every route and records the refusal
      // in its audit trail (a deliberate extension: the reference runner dropped it silently).
      log('UnknownDestination', { messageId: message.id, to });
      return { ...base, channelType: null, platformId: null, threadId: null, content: { text: body, to } };
    }
    if (destination.type === 'agent') return { ...base, channelType: 'agent', platformId: destination.agentGroupId, threadId: null };
    // A reply into the chat the message came from stays in its thread.
    const sameChat = message.channel_type === destination.channelType && message.platform_id === destination.platformId;
    return { ...base, channelType: destination.channelType, platformId: destination.platformId, threadId: sameChat ? message.thread_id : null };
  });
}

async function handle(message: InboundMessage, session: SessionDatabases, destinations: DestinationMap, provider: Provider): Promise<void> {
  session.mark(message.id, 'processing');
  try {
    const from = destinations.nameOf(message.channel_type, message.platform_id);
    const output = await provider.respond({ from, kind: message.kind, text: textOf(message) }, destinations);
    const written = session.write(route(message, output, destinations));
    session.mark(message.id, 'completed');
    log('MessageHandled', { messageId: message.id, from, rows: written });
  } catch (error) {
    session.mark(message.id, 'failed');
    log('MessageFailed', { messageId: message.id, error: error instanceof Error ? error.message : String(error) });
  }
}

async function main(): Promise<void> {
  const inboundPath = required('SESSION_INBOUND_DB_PATH');
  const outboundPath = required('SESSION_OUTBOUND_DB_PATH');
  const heartbeatPath = required('SESSION_HEARTBEAT_PATH');
  const pollMs = Number(process.env.SWITCHYARD_RUNNER_POLL_MS ?? 500);
  const provider = providerFor(process.env.SWITCHYARD_AGENT_PROVIDER ?? 'echo', process.env);
  const destinations = new DestinationMap(join(dirname(inboundPath), '.nanoclaw-destinations.json'));

  let stopping = false;
  const stop = () => {
    stopping = true;
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  // The host creates the folder before it starts the agent; allow for a slow filesystem all the same.
  while (!SessionDatabases.ready(inboundPath, outboundPath)) {
    if (stopping) return;
    await sleep(pollMs);
  }
  const session = new SessionDatabases(inboundPath, outboundPath, heartbeatPath);
  const released = session.releaseStaleClaims();
  log('RunnerStarted', { provider: process.env.SWITCHYARD_AGENT_PROVIDER ?? 'echo', releasedClaims: released });
  try {
    while (!stopping) {
      session.touchHeartbeat();
      if (destinations.refresh()) log('DestinationsLoaded', { names: destinations.all().map((d) => d.name) });
      for (const message of session.due(Date.now())) {
        if (stopping) break;
        await handle(message, session, destinations, provider);
      }
      if (!stopping) await sleep(pollMs);
    }
  } finally {
    session.close();
    log('RunnerStopped');
  }
}

main().catch((error: unknown) => {
  log('RunnerFailed', { error: error instanceof Error ? error.stack ?? error.message : String(error) });
  process.exitCode = 1;
});
