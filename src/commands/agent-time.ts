/**
 * How far ahead an agent may put anything off (a row's deliver_after, a task's
 * processAfter). A year covers any "remind me on <date>" a person asks for; beyond it is a
 * typo (2062 for 2026) or a row parked for ever, which the host would have to hold and
 * never decide. Recurring work uses a cron expression instead.
 */
export const AGENT_HORIZON_MS = 366 * 24 * 3_600_000;

// `YYYY-MM-DD HH:MM:SS` (the reference form, UTC) or ISO-8601; without a zone, UTC (spec §2).
const AGENT_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):?(\d{2}))?$/i;

/** The instant a time an agent wrote stands for, or undefined if it names none (Feb 31, 25:00, prose). */
function parseAgentTime(text: string): number | undefined {
  const match = AGENT_TIME.exec(text);
  if (!match) return undefined;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, offsetHours = 0, offsetMinutes = 0] = [1, 2, 3, 4, 5, 6, 10, 11].map((group) => Number(match[group] ?? 0));
  const utc = new Date(Date.UTC(year, month - 1, day, hour, minute, second, Math.floor(Number(`0.${match[7] ?? '0'}`) * 1000)));
  // Date.UTC rolls 31 February over into March: a time that does not exist is no time.
  const exists = utc.getUTCFullYear() === year && utc.getUTCMonth() === month - 1 && utc.getUTCDate() === day && hour < 24 && minute < 60 && second < 60;
  if (!exists || offsetHours > 23 || offsetMinutes > 59) return undefined;
  return utc.getTime() - (match[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
}

/** A time an agent wrote, read against now: its instant, or why the host will not use it. */
export function readAgentTime(field: string, text: string, now: number): { at: number } | { problem: string } {
  const at = parseAgentTime(text);
  if (at === undefined) return { problem: `${field}: ${JSON.stringify(text.slice(0, 64))} is not a time (expected YYYY-MM-DD HH:MM:SS in UTC, or ISO-8601)` };
  if (at - now > AGENT_HORIZON_MS) return { problem: `${field}: ${text} is more than ${AGENT_HORIZON_MS / 86_400_000} days ahead` };
  return { at };
}
