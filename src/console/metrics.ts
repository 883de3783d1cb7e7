import type { Core } from '../core';
import { LIVE_STATUSES } from '../projections/containers';

/** Upper bounds (seconds) of the delivery latency histogram: from a fast local bridge to a platform that retried. */
export const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

type Labels = Record<string, string>;

// The exposition format's label escaping: backslash, double quote and newline.
const escape = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labels = (values: Labels) => {
  const pairs = Object.entries(values).map(([name, value]) => `${name}="${escape(value)}"`);
  return pairs.length ? `{${pairs.join(',')}}` : '';
};

function family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string, samples: [string, Labels, number][]): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples.map(([suffix, values, value]) => `${name}${suffix}${labels(values)} ${value}`)];
}

/**
 * The host's figures in Prometheus text exposition format (version 0.0.4), read from the
 * same projections the CLI reads: every number here can be traced back to audit rows.
 * The aggregates are the console's own questions, so their SQL lives here rather than in
 * the views the deciders read.
 */
export function renderMetrics(core: Core): string {
  const db = core.store.db;
  const messages = db
    .prepare("SELECT direction, outcome, coalesce(reason, '') AS reason, count(*) AS count FROM audit GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
    .all() as { direction: string; outcome: string; reason: string; count: number }[];
  // A route to somewhere is a delivery; a system action routed to the host is not.
  const deliveries = db
    .prepare("SELECT outcome, count(*) AS count FROM audit WHERE direction = 'outbound' AND target IS NOT NULL AND outcome IN ('delivered', 'failed') GROUP BY 1 ORDER BY 1")
    .all() as { outcome: string; count: number }[];
  const pending = db.prepare("SELECT count(*) FROM audit WHERE direction = 'outbound' AND target IS NOT NULL AND outcome = 'routed'").pluck().get() as number;
  const latencies = db
    .prepare("SELECT (julianday(updated_at) - julianday(decided_at)) * 86400.0 FROM audit WHERE direction = 'outbound' AND outcome = 'delivered'")
    .pluck()
    .all() as number[];
  const running = core.views.containers
    .byStatus()
    .filter((row) => LIVE_STATUSES.has(row.status))
    .reduce((sum, row) => sum + row.count, 0);
  const buckets: [string, Labels, number][] = [...LATENCY_BUCKETS.map(String), '+Inf'].map((le, i) => [
    '_bucket',
    { le },
    latencies.filter((seconds) => i === LATENCY_BUCKETS.length || seconds <= LATENCY_BUCKETS[i]!).length,
  ]);
  const sum = latencies.reduce((total, seconds) => total + seconds, 0);
  return [
    ...family('switchyard_messages_total', 'counter', 'Messages decided, by direction, outcome (routed, delivered, dropped, failed) and drop or failure reason.', messages.map((m) => ['', { direction: m.direction, outcome: m.outcome, reason: m.reason }, m.count])),
    ...family('switchyard_deliveries_total', 'counter', 'Outbound routes to a chat or agent that ended delivered or failed for good.', deliveries.map((d) => ['', { outcome: d.outcome }, d.count])),
    ...family('switchyard_deliveries_pending', 'gauge', 'Outbound routes to a chat or agent still awaiting delivery.', [['', {}, pending]]),
    ...family('switchyard_agents_running', 'gauge', 'Agent containers starting, running, idle or stopping.', [['', {}, running]]),
    ...family('switchyard_log_position', 'gauge', 'Position of the last event in the log.', [['', {}, core.store.lastPosition()]]),
    ...family('switchyard_delivery_latency_seconds', 'histogram', 'Time from an outbound message routed to delivered.', [...buckets, ['_sum', {}, Number(sum.toFixed(6))], ['_count', {}, latencies.length]]),
    '',
  ].join('\n');
}
