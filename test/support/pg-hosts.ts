import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import { centralDatabasePath } from '../../src/core';
import { runCli } from './cli';
import { waitUntil } from './wait';
import type { PostgresServer } from './postgres';

/** The events columns both stores have, in one order. */
const COLUMNS = 'position, event_id, stream, stream_version, type, schema_version, data, metadata';

/**
 * A test's budget: each starts hosts and runs the CLI several times (about 2 s a run on a
 * loaded 2-core machine), far past jest's default; not a measure of anything.
 */
export const LOADED_MACHINE_MS = 240_000;

let databases = 0;

/** A new, empty database on the test's server. */
export async function newDatabase(server: PostgresServer): Promise<string> {
  const name = `hosts_${process.pid}_${++databases}`;
  const admin = new Client({ connectionString: server.connectionString });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return server.databaseUrl(name);
}

/** Runs a query on the database and returns its rows as arrays. */
export async function queryRows(url: string, text: string): Promise<unknown[][]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query({ text, rowMode: 'array' })).rows as unknown[][];
  } finally {
    await client.end();
  }
}

/** Every event row of the PostgreSQL log, as the SQLite replica keeps them. */
export const postgresRows = (url: string) =>
  queryRows(url, 'SELECT position::int, event_id, stream, stream_version, type, schema_version, data, metadata FROM events ORDER BY position');

/** Every event row of a data directory's replica. */
export function replicaRows(dataDir: string): unknown[][] {
  const db = new Database(centralDatabasePath(dataDir), { readonly: true });
  try {
    return db.prepare(`SELECT ${COLUMNS} FROM events ORDER BY position`).raw(true).all() as unknown[][];
  } finally {
    db.close();
  }
}

/** Agent group ag-andy wired to chats (webhook ones unless told) with these platform ids, through the CLI writing to PostgreSQL. */
export function wireAndy(dataDir: string, url: string, platformIds: readonly string[], channelType = 'webhook'): void {
  const cli = (...args: string[]) => {
    const result = runCli(['--data-dir', dataDir, ...args], { SWITCHYARD_STORE: url });
    if (result.status !== 0) throw new Error(`switchyard ${args.join(' ')} failed: ${result.stderr}`);
  };
  cli('groups', 'create', '--name', 'Andy', '--folder', 'andy', '--id', 'ag-andy');
  for (const platformId of platformIds) {
    const id = `mg-${platformId.replace(/\W/g, '')}`;
    cli('channels', 'register', '--channel-type', channelType, '--platform-id', platformId, '--name', `Chat ${platformId}`, '--id', id);
    cli('wirings', 'add', '--chat', id, '--agent-group', 'ag-andy');
  }
}

/** The agents a SIGKILLed host left running (child processes of the process runtime): stopped, and waited for, at the end of a test. */
export async function killAgentsOf(runtimeIds: unknown[][]): Promise<void> {
  const commandLine = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return '';
    }
  };
  // Only pids that are still agent runners: a stopped agent's pid may belong to anything by now.
  const isAgent = (pid: number) => commandLine(pid).includes(join('docker', 'runner', 'main.js'));
  const agents = runtimeIds.map(([runtimeId]) => Number(String(runtimeId).replace('process-', ''))).filter(isAgent);
  for (const pid of agents) process.kill(pid, 'SIGKILL');
  // Gone before the test's folders are removed: a dying agent may still be writing there.
  await waitUntil(() => !agents.some(isAgent), 'the agents to end');
}

/**
 * Per accepted platform message, from the PostgreSQL log: how often it was routed, how many
 * agent rows answer it, and how many of those were delivered (DeliverySucceeded).
 */
export async function outcomesPerMessage(url: string): Promise<Map<string, { routed: number; answers: number; delivered: number }>> {
  const rows = await queryRows(
    url,
    `WITH routed AS (SELECT data::json->>'platformMessageId' AS platform_id, data::json->>'messageId' AS message_id FROM events WHERE type = 'InboundRouted'),
          answers AS (SELECT data::json->>'inReplyTo' AS message_id, data::json->>'sessionId' || ':' || (data::json->>'outboundId') AS row_id FROM events WHERE type = 'OutboundRouted'),
          delivered AS (SELECT data::json->>'sessionId' || ':' || (data::json->>'outboundId') AS row_id FROM events WHERE type = 'DeliverySucceeded')
     SELECT r.platform_id,
            (SELECT count(*) FROM routed r2 WHERE r2.platform_id = r.platform_id)::int,
            (SELECT count(*) FROM answers a WHERE a.message_id = r.message_id)::int,
            (SELECT count(*) FROM answers a JOIN delivered d ON d.row_id = a.row_id WHERE a.message_id = r.message_id)::int
     FROM routed r`,
  );
  return new Map(rows.map(([id, routed, answers, delivered]) => [id as string, { routed: routed as number, answers: answers as number, delivered: delivered as number }]));
}

/**
 * For a failure's message: each message without a delivered answer, and the log of its
 * session from its arrival on (type, position, the command's actor), so a stall says where.
 */
async function undeliveredTrail(url: string, outcomes: Awaited<ReturnType<typeof outcomesPerMessage>>): Promise<string> {
  const waiting = [...outcomes].filter(([, outcome]) => outcome.delivered === 0);
  const lines = await Promise.all(
    waiting.map(async ([platformMessageId, outcome]) => {
      const trail = await queryRows(
        url,
        `WITH arrival AS (SELECT position, data::json->>'sessionId' AS session_id FROM events WHERE type = 'InboundRouted' AND data::json->>'platformMessageId' = '${platformMessageId.replace(/'/g, "''")}')
         SELECT e.position::int, e.type, e.metadata::json->>'actor' FROM events e, arrival a
         WHERE e.position >= a.position AND (e.data::json->>'sessionId' = a.session_id OR e.stream LIKE '%' || a.session_id || '%') ORDER BY e.position`,
      );
      return `${platformMessageId} ${JSON.stringify(outcome)}: ${trail.map((row) => row.join(' ')).join(' | ')}`;
    }),
  );
  return lines.join('\n');
}

/** Resolves with the outcomes once `count` messages have a delivered answer in the log (checked every 200 ms). */
export async function everyMessageDelivered(url: string, count: number, ms = 90_000): Promise<Awaited<ReturnType<typeof outcomesPerMessage>>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const outcomes = await outcomesPerMessage(url);
    const delivered = [...outcomes.values()].filter((o) => o.delivered > 0).length;
    if (delivered >= count) return outcomes;
    if (Date.now() > deadline) throw new Error(`after ${ms} ms only ${delivered} of ${count} messages have a delivered answer (${outcomes.size} routed)\n${await undeliveredTrail(url, outcomes)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
