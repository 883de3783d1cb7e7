import Database from 'better-sqlite3';
import { Client } from 'pg';
import { centralDatabasePath } from '../../src/core';
import { runCli } from './cli';
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

/** Agent group ag-andy wired to webhook chats with these platform ids, through the CLI writing to PostgreSQL. */
export function wireAndy(dataDir: string, url: string, platformIds: readonly string[]): void {
  const cli = (...args: string[]) => {
    const result = runCli(['--data-dir', dataDir, ...args], { SWITCHYARD_STORE: url });
    if (result.status !== 0) throw new Error(`switchyard ${args.join(' ')} failed: ${result.stderr}`);
  };
  cli('groups', 'create', '--name', 'Andy', '--folder', 'andy', '--id', 'ag-andy');
  for (const platformId of platformIds) {
    cli('channels', 'register', '--channel-type', 'webhook', '--platform-id', platformId, '--name', `Chat ${platformId}`, '--id', `mg-${platformId}`);
    cli('wirings', 'add', '--chat', `mg-${platformId}`, '--agent-group', 'ag-andy');
  }
}
