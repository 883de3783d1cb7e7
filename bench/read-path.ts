import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { firstValueFrom, first, tap } from 'rxjs';
import type { EventMetadata } from '../src/events/define';
import { DestinationAdded, DestinationRemoved } from '../src/events/destinations';
import { eventRegistry } from '../src/events';
import { EventStore } from '../src/events/store';
import { timed } from './measure';

const AGENT_GROUPS = 1000;
/**
 * Event ids are hashes, so appends land on random pages of the event_id index: large
 * transactions and a cache that holds the index write each dirty page once per
 * transaction instead of once per few events (about 1.5x faster than 10k per transaction).
 */
const APPENDS_PER_TRANSACTION = 100_000;
const GENERATION_CACHE_KIB = 256 * 1024;
/** RSS is sampled this often; the first FIRST_WINDOW events are the "small log" reference. */
const SAMPLE_EVERY = 50_000;
export const FIRST_WINDOW = 100_000;

export type ReadMode = 'readAll' | 'subscribe';

export interface ReadFigures {
  mode: ReadMode;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** RSS after opening the store, before the first event. */
  rssStart: number;
  /** Highest sampled RSS up to FIRST_WINDOW events, and over the whole log. */
  peakRssFirstWindow: number;
  peakRss: number;
  /** The kernel's high-water mark for this process image (VmHWM), which sampling can miss; 0 off Linux. */
  maxRss: number;
  /** [events read, RSS] every SAMPLE_EVERY events: the curve behind the two peaks. */
  samples: [number, number][];
}

/**
 * A log of DestinationAdded/DestinationRemoved pairs spread over agent-group streams, one
 * append per event with its own command id, as the bus writes them. synchronous=NORMAL
 * and large transactions: generation time is not a figure.
 */
export function generateLog(path: string, events: number): void {
  const store = EventStore.open(path, eventRegistry, { synchronous: 'NORMAL' });
  store.db.pragma(`cache_size = -${GENERATION_CACHE_KIB}`);
  const started = Date.parse('2026-01-01T00:00:00Z');
  const appendOne = (i: number) => {
    const pair = Math.floor(i / 2);
    const agentGroupId = `ag-${pair % AGENT_GROUPS}`;
    const localName = `dest-${pair}`;
    const event =
      i % 2 === 0
        ? DestinationAdded.create({ agentGroupId, localName, targetType: 'agent', targetId: `ag-${(pair + 1) % AGENT_GROUPS}` })
        : DestinationRemoved.create({ agentGroupId, localName });
    const commandId = randomUUID();
    const metadata: EventMetadata = {
      commandId,
      correlationId: commandId,
      causationId: commandId,
      actor: 'operator:bench',
      recordedAt: new Date(started + i * 1000).toISOString(),
    };
    store.append(event.stream, 'any', [event], metadata);
  };
  try {
    for (let from = 0; from < events; from += APPENDS_PER_TRANSACTION) {
      store.transaction(() => {
        for (let i = from; i < Math.min(from + APPENDS_PER_TRANSACTION, events); i++) appendOne(i);
      });
    }
  } finally {
    store.close();
  }
}

/** Runs one read in a fresh process, so its RSS owes nothing to the generation step. */
export function measureReadInChild(mode: ReadMode, path: string): Promise<ReadFigures> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, [mode, path], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`${mode} child exited with ${code}: ${output}`));
      else resolve(JSON.parse(output) as ReadFigures);
    });
  });
}

/** Counts events and samples RSS every SAMPLE_EVERY of them. */
class RssSampler {
  events = 0;
  readonly rssStart = process.memoryUsage.rss();
  peakFirstWindow = this.rssStart;
  peak = this.rssStart;
  readonly samples: [number, number][] = [];

  onEvent(): void {
    if (++this.events % SAMPLE_EVERY === 0) this.sample();
  }

  sample(): void {
    const rss = process.memoryUsage.rss();
    this.samples.push([this.events, rss]);
    if (this.events <= FIRST_WINDOW) this.peakFirstWindow = Math.max(this.peakFirstWindow, rss);
    this.peak = Math.max(this.peak, rss);
  }
}

/**
 * Not process.resourceUsage().maxRSS: Linux carries ru_maxrss across exec, so a forked
 * child reports the parent's peak (the generation step) as its own. VmHWM is reset by exec.
 */
function highWaterRss(): number {
  try {
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return kib === undefined ? 0 : Number(kib) * 1024;
  } catch {
    return 0;
  }
}

async function readInThisProcess(mode: ReadMode, path: string): Promise<ReadFigures> {
  const store = EventStore.open(path, eventRegistry, { synchronous: 'NORMAL' });
  try {
    const last = store.lastPosition();
    const sampler = new RssSampler();
    const { seconds } = await timed(async () => {
      if (mode === 'readAll') {
        for (const _event of store.readAll()) sampler.onEvent();
      } else {
        // Catch-up ends when the last position already in the log is delivered.
        await firstValueFrom(store.subscribe().pipe(tap(() => sampler.onEvent()), first((event) => event.position >= last)));
      }
    });
    if (sampler.events % SAMPLE_EVERY !== 0) sampler.sample();
    return {
      mode,
      events: sampler.events,
      seconds,
      eventsPerSecond: sampler.events / seconds,
      rssStart: sampler.rssStart,
      peakRssFirstWindow: sampler.peakFirstWindow,
      peakRss: sampler.peak,
      maxRss: highWaterRss(),
      samples: sampler.samples,
    };
  } finally {
    store.close();
  }
}

if (require.main === module) {
  const [mode, path] = process.argv.slice(2) as [ReadMode, string];
  readInThisProcess(mode, path).then(
    (figures) => process.stdout.write(JSON.stringify(figures)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
