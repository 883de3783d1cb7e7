#!/usr/bin/env node
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DestinationMap } from './destinations';
import { errorText, log } from './log';
import { providerFor, type Provider } from './providers';
import { routeBlocks } from './route';
import { SessionDatabases, touchHeartbeat, type InboundMessage } from './session';
import type { ToolContext } from './tools';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: the host sets it for every agent (spec §2)`);
  return value;
}

/** What the model reads of a message: its text, or a task's prompt. */
function textOf(message: InboundMessage): string {
  try {
    const content = JSON.parse(message.content) as { text?: unknown; prompt?: unknown };
    if (message.kind === 'task' && typeof content.prompt === 'string') return content.prompt;
    if (typeof content.text === 'string') return content.text;
  } catch {
    // Not JSON: the content is the text.
  }
  return message.content;
}

async function handle(message: InboundMessage, session: SessionDatabases, destinations: DestinationMap, provider: Provider): Promise<void> {
  session.mark(message.id, 'processing');
  const from = destinations.nameOf(message.channel_type, message.platform_id);
  try {
    const context: ToolContext = { message, destinations, from, write: (row) => session.write([row])[0]! };
    const output = await provider.respond({ from, kind: message.kind, text: textOf(message) }, context);
    const written = session.write(routeBlocks(message, output, destinations, log));
    session.mark(message.id, 'completed');
    log('MessageHandled', { messageId: message.id, from: from ?? null, rows: written });
  } catch (error) {
    session.mark(message.id, 'failed');
    log('MessageFailed', { messageId: message.id, error: errorText(error) });
  }
}

/** Fires 'change' whenever the host commits to inbound.db: the poll's pause then ends at once. */
const inboundChanges = new EventEmitter();

/**
 * Watches the session folder for commits to inbound.db (journal_mode=DELETE: the file and
 * its journal), so a message is taken as soon as the host writes it; the poll stays for
 * whatever a watch misses. A folder that cannot be watched leaves the poll alone.
 */
function watchInbound(inboundPath: string): FSWatcher | undefined {
  const names = new Set([basename(inboundPath), `${basename(inboundPath)}-journal`]);
  try {
    const watcher = watch(dirname(inboundPath), { persistent: false }, (_type, filename) => {
      if (filename === null || names.has(filename.toString())) inboundChanges.emit('change');
    });
    watcher.on('error', (error) => {
      log('InboundWatchFailed', { error: errorText(error) });
      watcher.close();
    });
    return watcher;
  } catch (error) {
    log('InboundWatchFailed', { error: errorText(error) });
    return undefined;
  }
}

/** Waits ms, or less if the signal fires first or inbound.db changes. */
const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      inboundChanges.off('change', done);
      resolve();
    }
    inboundChanges.once('change', done);
    signal.addEventListener('abort', done, { once: true });
  });

function refreshDestinations(destinations: DestinationMap): void {
  try {
    const names = destinations.refresh();
    if (names) log('DestinationsLoaded', { names });
  } catch (error) {
    // Keep routing by the map last read; the next tick reads the file again.
    log('DestinationsUnreadable', { error: errorText(error) });
  }
}

/** Opens the session, waiting while the host has not created it yet; undefined if stopped first. */
async function openSession(inboundPath: string, outboundPath: string, pollMs: number, signal: AbortSignal): Promise<SessionDatabases | undefined> {
  for (let reported = false; !signal.aborted; await pause(pollMs, signal)) {
    try {
      return new SessionDatabases(inboundPath, outboundPath);
    } catch (error) {
      if (!reported) log('SessionNotReady', { error: errorText(error) });
      reported = true;
    }
  }
  return undefined;
}

async function main(): Promise<void> {
  const inboundPath = required('SESSION_INBOUND_DB_PATH');
  const outboundPath = required('SESSION_OUTBOUND_DB_PATH');
  const heartbeatPath = required('SESSION_HEARTBEAT_PATH');
  const pollMs = Number(process.env.SWITCHYARD_RUNNER_POLL_MS) || 500;
  const providerName = process.env.SWITCHYARD_AGENT_PROVIDER || 'echo';
  const provider = providerFor(providerName, process.env);
  const destinations = new DestinationMap(join(dirname(inboundPath), '.nanoclaw-destinations.json'));

  // A signal lets the message in hand finish; the loop then stops at its next check.
  const stopping = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      log('StopRequested', { signal });
      stopping.abort();
    });
  }

  // On its own timer, not the poll loop: a model call can take minutes, and the host's
  // sweep must not take a busy agent for a dead one.
  const beat = () => {
    try {
      touchHeartbeat(heartbeatPath);
    } catch (error) {
      log('HeartbeatFailed', { error: errorText(error) });
    }
  };
  beat();
  const heartbeat = setInterval(beat, pollMs);

  const inboundWatch = watchInbound(inboundPath);
  const session = await openSession(inboundPath, outboundPath, pollMs, stopping.signal);
  if (session) {
    await provider.start?.();
    log('RunnerStarted', { provider: providerName, releasedClaims: session.releaseStaleClaims() });
    try {
      while (!stopping.signal.aborted) {
        refreshDestinations(destinations);
        try {
          for (const message of session.due(Date.now())) {
            if (stopping.signal.aborted) break;
            await handle(message, session, destinations, provider);
          }
        } catch (error) {
          // A busy or briefly unreadable database: the agent never exits on its own, it tries again.
          log('PollFailed', { error: errorText(error) });
        }
        await pause(pollMs, stopping.signal);
      }
    } finally {
      session.close();
      await provider.close?.();
    }
  }
  clearInterval(heartbeat);
  inboundWatch?.close();
  log('RunnerStopped');
  // Explicit: an idle keep-alive socket of the model's HTTP client must not keep a stopped agent running.
  process.exit(0);
}

main().catch((error: unknown) => {
  log('RunnerFailed', { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
