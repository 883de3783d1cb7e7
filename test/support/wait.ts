import { filter, firstValueFrom, take, timeout, toArray } from 'rxjs';
import type { RecordedEvent } from '../../src/events/define';
import type { EventStore } from '../../src/events/store';

/**
 * Resolves with the first `count` committed events (from the start of the log) that match:
 * tests wait on what happened, never for a fixed time. The timeout only turns a hang into
 * a readable failure.
 */
export function waitForEvents(store: EventStore, match: (event: RecordedEvent) => boolean, count = 1, ms = 15_000): Promise<RecordedEvent[]> {
  return firstValueFrom(store.subscribe({ pollIntervalMs: 20 }).pipe(filter(match), take(count), toArray(), timeout(ms)));
}

/** Resolves once `condition` holds, checking every few ms: for state outside the log (files, other processes). */
export async function waitUntil(condition: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** How long an agent child process may take to start and answer while the whole suite loads both cores: a budget, not a measure. */
export const AGENT_ANSWER_MS = 60_000;

/** A test's own jest budget when it waits for `answers` agent answers in turn: each may take AGENT_ANSWER_MS, and the host starts and stops around them. */
export const answersBudgetMs = (answers: number) => answers * AGENT_ANSWER_MS + 30_000;
