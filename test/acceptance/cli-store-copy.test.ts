import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import { centralDatabasePath } from '../../src/core';
import { eventRegistry } from '../../src/events';
import { PostgresEventStore } from '../../src/events/pg-store';
import { runCli } from '../support/cli';
import { describeWithPostgres, usePostgres } from '../support/postgres';
import { seedSevenEvents } from '../support/seed-log';
import { useTempDir } from '../support/temp';

const COLUMNS = 'position, event_id, stream, stream_version, type, schema_version, data, metadata';

describeWithPostgres('switchyard store copy (built) into a real PostgreSQL server', () => {
  const server = usePostgres();
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  let databases = 0;

  /** Seven events through the bus (see seedSevenEvents). */
  const seed = () => seedSevenEvents(dataDir(), 'Zwei “two”');

  /** A new, empty database on the server, and a client on it. */
  async function emptyDatabase(): Promise<{ url: string; client: Client }> {
    const name = `copy_${++databases}`;
    const admin = new Client({ connectionString: server().connectionString });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = server().databaseUrl(name);
    const client = new Client({ connectionString: url });
    await client.connect();
    return { url, client };
  }

  it('copies the log with positions, ids, streams, versions, data and metadata unchanged, verifies it, and appends continue after it', async () => {
    seed();
    const { url, client } = await emptyDatabase();
    try {
      const result = runCli(['--data-dir', dataDir(), 'store', 'copy', '--to', url, '--batch-size', '3'], { SWITCHYARD_PROGRESS: '1' });
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/events\s+7\s+7\s+equal/);
      expect(result.stdout).toMatch(/checksum \(sha256 of the rows\)\s+([0-9a-f]{64})\s+\1\s+equal/);
      expect(result.stdout).toContain('7 events copied and verified');
      // Progress is redrawn at most every 250 ms; the last line always says how far it got.
      expect(result.stderr.trim().split('\n').at(-1)).toBe('copying events: 7/7');

      const sqlite = new Database(centralDatabasePath(dataDir()), { readonly: true });
      const source = sqlite.prepare(`SELECT ${COLUMNS} FROM events ORDER BY position`).raw(true).all();
      sqlite.close();
      const copied = (await client.query({ text: `SELECT position::int, event_id, stream, stream_version, type, schema_version, data, metadata FROM events ORDER BY position`, rowMode: 'array' })).rows;
      expect(copied).toEqual(source);
      // The command ids too: hosts sharing this database answer a repeat as a duplicate.
      expect((await client.query({ text: 'SELECT command_id FROM commands ORDER BY command_id', rowMode: 'array' })).rows.flat()).toEqual(['c-1', 'c-2', 'c-3', 'c-4', 'c-ag-1', 'c-ag-2', 'c-mg-1']);

      const store = await PostgresEventStore.open(url, eventRegistry);
      try {
        const metadata = { commandId: 'c-after-copy', correlationId: 'c-after-copy', causationId: 'c-after-copy', actor: 'operator:test', recordedAt: new Date().toISOString() };
        const [next] = await store.append('agent-group-ag-1', 'exists', [{ type: 'AgentGroupUpdated', data: { agentGroupId: 'ag-1', name: 'Uno' } }], metadata);
        expect(next?.position).toBe(8);
      } finally {
        await store.close();
      }
    } finally {
      await client.end();
    }
  });

  it('with --json prints one document with both sides', async () => {
    seed();
    const { url, client } = await emptyDatabase();
    await client.end();
    const result = runCli(['--data-dir', dataDir(), 'store', 'copy', '--to', url, '--json']);
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout) as { equal: boolean; source: unknown; target: unknown };
    expect(report).toMatchObject({ equal: true, source: { events: 7, firstPosition: 1, lastPosition: 7 }, commands: 7 });
    expect(report.target).toEqual(report.source);
  });

  it('refuses a target that already holds events, naming them, and changes nothing', async () => {
    seed();
    const { url, client } = await emptyDatabase();
    try {
      expect(runCli(['--data-dir', dataDir(), 'store', 'copy', '--to', url]).status).toBe(0);
      const again = runCli(['--data-dir', dataDir(), 'store', 'copy', '--to', url]);
      expect(again.status).toBe(1);
      expect(again.stderr).toContain('the target database is not empty: its events table holds 7 events (positions 1–7)');
      expect((await client.query('SELECT count(*)::int AS n FROM events')).rows[0].n).toBe(7);
    } finally {
      await client.end();
    }
  });

  it('refuses a target with tables of something else, naming them', async () => {
    seed();
    const { url, client } = await emptyDatabase();
    try {
      await client.query('CREATE TABLE invoices (id int)');
      const result = runCli(['--data-dir', dataDir(), 'store', 'copy', '--to', url]);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('the target database is not empty: it has the table invoices');
      expect((await client.query("SELECT to_regclass('events') AS t")).rows[0].t).toBeNull();
    } finally {
      await client.end();
    }
  });

  it('says plainly when the target cannot be reached, without a stack trace', () => {
    seed();
    const result = runCli(['--data-dir', dataDir(), 'store', 'copy', '--to', `postgres://postgres@/none?host=${join(tempDir(), 'no-server-here')}`]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^switchyard: cannot use the target database: connect ENOENT .*no-server-here/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a --to that is not a PostgreSQL connection string, saying what it expected', () => {
    seed();
    const result = runCli(['--data-dir', dataDir(), 'store', 'copy', '--to', '/tmp/elsewhere.db']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('expected a PostgreSQL connection string (postgres://…), got "/tmp/elsewhere.db"');
  });
});
