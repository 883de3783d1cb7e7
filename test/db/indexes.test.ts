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
    expect(plan(core, count!).join('\n')).toContain('USING COVERING INDEX audit_by_session_direction_time (session_id=? AND direction=? AND decided_at>?)');
  });

  it('given the audit, when its indexes are listed, then no two serve the same lookups: each is one more page in every commit that writes a row', () => {
    const indexes = core.store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit' AND sql IS NOT NULL ORDER BY name").pluck().all();
    expect(indexes).toEqual(['audit_by_agent_group', 'audit_by_message', 'audit_by_outcome', 'audit_by_platform_message', 'audit_by_session_direction_time', 'audit_by_time']);
  });

  it.each([
    ['the newest inbound row of a session by a time', "SELECT max(decided_position) FROM audit WHERE session_id = ? AND direction = 'inbound' AND decided_at <= ?", 'audit_by_session_direction_time (session_id=? AND direction=? AND decided_at<?)'],
    ['a message’s row by session, id and direction', "UPDATE audit SET outcome = 'delivered' WHERE session_id = ? AND message_id = ? AND direction = ?", 'audit_by_message (message_id=? AND session_id=? AND direction=?)'],
    ['every row a message id could mean', 'SELECT * FROM audit WHERE message_id = ?', 'audit_by_message (message_id=?)'],
  ])('given %s, when planned, then it searches the audit through the index made for it', (_what, sql, index) => {
    expect(plan(core, sql).join('\n')).toContain(index);
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
