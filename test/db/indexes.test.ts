import { join } from 'node:path';
import { openCore, type Core } from '../../src/core';
import { createViews } from '../../src/projections';
import { useTempDir } from '../support/temp';

/** Every statement the read views prepare, by their SQL. */
function viewStatements(core: Core): string[] {
  const prepare = jest.spyOn(core.store.db, 'prepare');
  createViews(core.store.db);
  const sql = prepare.mock.calls.map(([source]) => source);
  prepare.mockRestore();
  return sql;
}

/** The query plan's lines, with every parameter bound to NULL (the plan does not depend on values). */
function plan(core: Core, sql: string): string[] {
  const statement = core.store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
  const named = [...sql.matchAll(/@(\w+)/g)].map((match) => match[1]!);
  const rows = (named.length > 0 ? statement.all(Object.fromEntries(named.map((name) => [name, null]))) : statement.all(...sql.split('?').slice(1).map(() => null))) as { detail: string }[];
  return rows.map((row) => row.detail);
}

describe('indexes the write path reads through', () => {
  const tempDir = useTempDir();
  let core: Core;
  beforeEach(() => {
    core = openCore(join(tempDir(), 'switchyard.db'));
  });
  afterEach(() => core.close());

  it('given the routing lookup of a chat’s open session, when planned, then it reads sessions_by_chat, not every session of the agent', () => {
    const lookup = viewStatements(core).find((sql) => sql.includes('FROM sessions WHERE agent_group_id = ? AND messaging_group_id = ?'));
    expect(lookup).toBeDefined();
    expect(plan(core, lookup!)).toEqual([expect.stringContaining('USING INDEX sessions_by_chat (messaging_group_id=? AND thread_id=? AND agent_group_id=? AND session_mode=?)')]);
  });

  it('given the rate limit’s count of a session’s outbound rows of the last minute, when planned, then it reads the outbound rows’ own index alone, never the table', () => {
    const count = viewStatements(core).find((sql) => sql.includes("direction = 'outbound' AND decided_at > ?"));
    expect(count).toBeDefined();
    expect(plan(core, count!).join('\n')).toContain('USING COVERING INDEX audit_outbound_by_session_time (session_id=? AND decided_at>?)');
  });

  it.each([
    ['a command id’s earlier outcome', 'SELECT command_id, type, payload_hash, outcome FROM commands WHERE command_id = ?', 'USING PRIMARY KEY'],
    ['a stream’s version', 'SELECT stream_version FROM events WHERE stream = ? ORDER BY stream_version DESC LIMIT 1', 'USING COVERING INDEX sqlite_autoindex_events_2'],
    ['a reactor’s events of one type', 'SELECT position FROM events WHERE position > ? AND type = ? ORDER BY position LIMIT 100', 'INDEX events_by_type'],
    ['a reactor’s checkpoint', 'SELECT position FROM checkpoints WHERE consumer = ?', 'USING PRIMARY KEY'],
  ])('given %s, when planned, then it is a search through an index', (_what, sql, index) => {
    const lines = plan(core, sql);
    expect(lines.every((line) => line.startsWith('SEARCH'))).toBe(true);
    expect(lines.join('\n')).toContain(index);
  });
});
