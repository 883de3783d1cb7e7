import { performance } from 'node:perf_hooks';

export interface Timed<T> {
  value: T;
  seconds: number;
}

/**
 * The one clock of the benchmark. Async so the same helper times synchronous loops and
 * observables alike; awaiting a value that is not a promise costs one microtask.
 */
export async function timed<T>(fn: () => T | Promise<T>): Promise<Timed<T>> {
  const started = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - started) / 1000 };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A whole number with thousands separators, right-aligned to width. */
export const count = (value: number, width = 0) => Math.round(value).toLocaleString('en').padStart(width);

export const ratio = (value: number) => value.toFixed(2);

export const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export const verdict = (met: boolean) => (met ? 'PASS' : 'MISS');

/** The value below which a share `p` (0..1) of the values lie (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
