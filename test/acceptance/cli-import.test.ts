import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runCli } from '../support/cli';
import { buildNanoclaw } from '../support/nanoclaw-install';
import { useTempDir } from '../support/temp';

describe('switchyard import-nanoclaw (built CLI)', () => {
  const tempDir = useTempDir();
  const cli = (...args: string[]) => runCli(['--data-dir', join(tempDir(), 'data'), ...args]);
  const json = (...args: string[]) => JSON.parse(cli(...args, '--json').stdout);

  it('recreates the NanoClaw state, keeping its names; a second import appends nothing', () => {
    buildNanoclaw(join(tempDir(), 'nanoclaw'));
    const first = cli('import-nanoclaw', join(tempDir(), 'nanoclaw'));
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('every row is in the log');

    const acl = (agentGroup: string) => json('acl', agentGroup).destinations.map((d: Record<string, string>) => [d.local_name, d.target_type, d.target_id]);
    // The imported name "home" is kept: wiring the chat afterwards grants no second name for it.
    expect(acl('ag-andy')).toEqual([['home', 'channel', 'mg-family']]);
    expect(acl('ag-admin')).toEqual([['ops', 'channel', 'mg-ops'], ['worker-1', 'agent', 'ag-worker']]);
    expect(acl('ag-worker')).toEqual([['parent', 'agent', 'ag-admin']]);
    expect(json('wirings', 'list').map((w: Record<string, unknown>) => [w.messagingGroupId, w.agentGroupId, w.sessionMode, w.priority, (w.triggerRules as { pattern?: string }).pattern ?? null])).toEqual([
      ['mg-family', 'ag-andy', 'shared', 10, '^@andy'],
      ['mg-ops', 'ag-admin', 'per-thread', 0, null],
    ]);
    expect(json('groups', 'show', 'ag-admin').group).toEqual(expect.objectContaining({ isAdmin: true, containerConfig: expect.objectContaining({ packages: { apt: ['jq'], npm: [] } }) }));
    expect(json('sessions', 'list').map((s: Record<string, string>) => [s.id, s.session_mode])).toEqual([['sess-a', 'shared'], ['sess-w', 'agent-shared']]);

    const before = json('status').log.lastPosition;
    const second = json('import-nanoclaw', join(tempDir(), 'nanoclaw'));
    expect(second.tables.map((t: { imported: number; alreadyImported: number }) => [t.imported, t.alreadyImported])).toEqual([[0, 3], [0, 2], [0, 3], [0, 2], [0, 2]]);
    expect(json('status').log.lastPosition).toBe(before);
  });

  it('refuses a database it does not understand, naming what is missing, and a path with no database', () => {
    buildNanoclaw(join(tempDir(), 'partial'), { withWirings: false });
    const partial = cli('import-nanoclaw', join(tempDir(), 'partial', 'v2.db'));
    expect(partial.status).toBe(1);
    expect(partial.stderr).toContain('it has no table messaging_group_agents');
    const missing = cli('import-nanoclaw', join(tempDir(), 'nowhere'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('does not exist');
  });

  it('refuses, with RE2’s reason, a wiring whose trigger pattern RE2 cannot run, and imports the rest', () => {
    buildNanoclaw(join(tempDir(), 'nanoclaw'));
    const db = new Database(join(tempDir(), 'nanoclaw', 'v2.db'));
    db.prepare("UPDATE messaging_group_agents SET trigger_rules = ? WHERE id = 'w1'").run(JSON.stringify({ pattern: '^(?!bot)@andy', requiresTrigger: true }));
    db.close();

    const report = json('import-nanoclaw', join(tempDir(), 'nanoclaw'));

    const wirings = report.tables.find((t: { table: string }) => t.table === 'messaging_group_agents');
    expect(wirings).toMatchObject({ imported: 1, refused: [{ key: 'mg-family:ag-andy', reason: expect.stringMatching(/triggerRules\.pattern: .*no backreferences or lookaround/) }] });
    expect(json('wirings', 'list').map((w: { agentGroupId: string }) => w.agentGroupId)).toEqual(['ag-admin']);
  });
});
