import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runCli } from '../support/cli';
import { buildNanoclaw } from '../support/nanoclaw-install';
import { useTempDir } from '../support/temp';

interface PlanRow {
  table: string;
  key: string;
  outcome: string;
  notes: string[];
  reason?: string;
}

describe('switchyard import-nanoclaw (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'switchyard');
  const install = () => join(tempDir(), 'nanoclaw', 'data');
  const cli = (...args: string[]) => runCli(['--data-dir', dataDir(), ...args]);
  const json = (...args: string[]) => JSON.parse(cli(...args, '--json').stdout);
  const edit = (sql: string, ...params: unknown[]) => {
    const db = new Database(join(install(), 'v2.db'));
    db.prepare(sql).run(...params);
    db.close();
  };
  const row = (report: { rows: PlanRow[] }, table: string, key: string) => report.rows.find((r) => r.table === table && r.key === key);
  const acl = (agentGroup: string) => json('acl', agentGroup).destinations.map((d: Record<string, string>) => [d.local_name, d.target_type, d.target_id]);
  const wirings = () =>
    json('wirings', 'list').map((w: Record<string, unknown>) => [w.messagingGroupId, w.agentGroupId, w.sessionMode, w.priority, (w.triggerRules as { pattern?: string }).pattern ?? null]);

  it('recreates the NanoClaw state, keeping its names; a second import appends nothing', () => {
    buildNanoclaw(install());
    const first = cli('import-nanoclaw', install());
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('seed (schema_version 1–4)');
    expect(first.stdout).toContain('every row is in the log');

    // The imported name "home" is kept: wiring the chat afterwards grants no second name for it.
    expect(acl('ag-andy')).toEqual([['home', 'channel', 'mg-family']]);
    expect(acl('ag-admin')).toEqual([['ops', 'channel', 'mg-ops'], ['worker-1', 'agent', 'ag-worker']]);
    expect(acl('ag-worker')).toEqual([['parent', 'agent', 'ag-admin']]);
    expect(wirings()).toEqual([
      ['mg-family', 'ag-andy', 'shared', 10, '^@andy'],
      ['mg-ops', 'ag-admin', 'per-thread', 0, null],
    ]);
    expect(json('groups', 'show', 'ag-admin').group).toEqual(expect.objectContaining({ isAdmin: true, containerConfig: expect.objectContaining({ packages: { apt: ['jq'], npm: [] } }) }));
    expect(json('sessions', 'list').map((s: Record<string, string>) => [s.id, s.session_mode])).toEqual([['sess-a', 'shared'], ['sess-w', 'agent-shared']]);

    const before = json('status').log.lastPosition;
    const second = json('import-nanoclaw', install());
    expect(second.tables.map((t: { table: string; imported: number; unchanged: number }) => [t.table, t.imported, t.unchanged])).toEqual([
      ['agent_groups', 0, 3],
      ['messaging_groups', 0, 2],
      ['agent_destinations', 0, 3],
      ['messaging_group_agents', 0, 2],
      ['sessions', 0, 2],
    ]);
    expect(json('status').log.lastPosition).toBe(before);
  });

  it('imports a v2.0.64 install: engage modes, container_configs, admins from user roles', () => {
    buildNanoclaw(install(), { version: 'v2.0.64' });
    const report = json('import-nanoclaw', install());
    expect(report.version).toMatchObject({ label: 'v2.0.64', migrations: 13 });
    expect(report.applied).toBe(true);
    expect(report.rows.filter((r: PlanRow) => r.outcome === 'refused')).toEqual([]);

    expect(wirings()).toEqual([
      ['mg-family', 'ag-andy', 'shared', 10, '^@andy'],
      ['mg-ops', 'ag-admin', 'per-thread', 0, null],
    ]);
    // The owner's DM is answered by the admin group: that group is the admin, as is_admin=1 said at the seed.
    expect(json('groups', 'show', 'ag-admin').group).toEqual(expect.objectContaining({ isAdmin: true, agentProvider: 'claude', containerConfig: expect.objectContaining({ packages: { apt: ['jq'], npm: [] } }) }));
    expect(json('groups', 'show', 'ag-andy').group.isAdmin).toBe(false);
    const chats = Object.fromEntries(json('channels', 'list').map((c: Record<string, string>) => [c.id, c.admin_user_id]));
    expect(chats).toEqual({ 'mg-family': 'u-1', 'mg-ops': 'U1' });
    expect(row(report, 'messaging_groups', 'mg-family')!.notes).toEqual(expect.arrayContaining([expect.stringContaining('unknown_sender_policy strict')]));
    expect(row(report, 'agent_groups', 'ag-admin')!.notes).toEqual(expect.arrayContaining([expect.stringContaining('slack:U1')]));
  });

  it('maps v2.0.64 engage modes Switchyard cannot express exactly, with a note on each', () => {
    buildNanoclaw(install(), { version: 'v2.0.64' });
    edit("UPDATE messaging_group_agents SET engage_mode = 'mention-sticky', engage_pattern = NULL, sender_scope = 'known', ignored_message_policy = 'accumulate' WHERE id = 'w1'");
    const report = json('import-nanoclaw', install());
    const wiring = row(report, 'messaging_group_agents', 'mg-family:ag-andy')!;
    expect(wiring.outcome).toBe('imported');
    expect(wiring.notes).toEqual([
      expect.stringContaining('mention-sticky'),
      expect.stringContaining("sender_scope 'known'"),
      expect.stringContaining("ignored_message_policy 'accumulate'"),
    ]);
    expect(wirings()[0]).toEqual(['mg-family', 'ag-andy', 'shared', 10, '@Andy']);
  });

  it('keeps seed triggers NanoClaw accepted but never compiled: a keyword as its literal text, (?i) as case-insensitivity', () => {
    buildNanoclaw(install());
    edit("UPDATE messaging_group_agents SET trigger_rules = ? WHERE id = 'w1'", JSON.stringify({ pattern: '?help', requiresTrigger: true }));
    edit("UPDATE messaging_group_agents SET trigger_rules = ?, response_scope = 'triggered' WHERE id = 'w2'", JSON.stringify({ pattern: '(?i)research', requiresTrigger: true }));
    const report = json('import-nanoclaw', install());
    expect(report.applied).toBe(true);
    expect(wirings()).toEqual([
      ['mg-family', 'ag-andy', 'shared', 10, '\\?help'],
      ['mg-ops', 'ag-admin', 'per-thread', 0, 'research'],
    ]);
    expect(row(report, 'messaging_group_agents', 'mg-family:ag-andy')).toMatchObject({ outcome: 'imported', notes: [expect.stringContaining('literal text')] });
    expect(row(report, 'messaging_group_agents', 'mg-ops:ag-admin')).toMatchObject({ outcome: 'imported', notes: [expect.stringContaining('(?i)')] });
  });

  it('keeps an agent group whose container_config has a field Switchyard cannot take, and says what it left out', () => {
    buildNanoclaw(install());
    edit(
      "UPDATE agent_groups SET container_config = ? WHERE id = 'ag-worker'",
      JSON.stringify({ additionalMounts: [{ hostPath: '/srv/notes', readonly: true }], model: 'opus', mcpServers: { bad: { args: ['x'] } } }),
    );
    const report = json('import-nanoclaw', install());
    expect(row(report, 'agent_groups', 'ag-worker')).toMatchObject({
      outcome: 'imported',
      notes: [expect.stringContaining('containerPath'), expect.stringContaining('container_config.model'), expect.stringContaining('mcpServers.bad')],
    });
    expect(json('groups', 'show', 'ag-worker').group.containerConfig.additionalMounts).toEqual([{ hostPath: '/srv/notes', containerPath: 'notes', readonly: true }]);
    expect(acl('ag-worker')).toEqual([['parent', 'agent', 'ag-admin']]);
    expect(json('sessions', 'list').map((s: { id: string }) => s.id)).toContain('sess-w');
  });

  it('copies each group folder (regular files only, links refused) and normalizes destination names with a note', () => {
    buildNanoclaw(install(), { groups: { andy: { 'CLAUDE.md': '# Andy\n', 'notes/today.md': 'milk\n' } } });
    const outside = join(tempDir(), 'secret.txt');
    writeFileSync(outside, 'secret');
    symlinkSync(outside, join(tempDir(), 'nanoclaw', 'groups', 'andy', 'leak.md'));
    edit("INSERT INTO messaging_groups VALUES ('mg-equipe', 'slack', 'C7', 'Équipe Ops ✨', 1, NULL, '2026-01-01')");
    edit("INSERT INTO agent_destinations VALUES ('ag-andy', 'Équipe Ops ✨', 'channel', 'mg-equipe', '2026-01-01')");
    edit("INSERT INTO agent_destinations VALUES ('ag-andy', 'ops-room', 'channel', 'mg-ops', '2026-01-01')");
    edit("INSERT INTO agent_destinations VALUES ('ag-andy', 'Ops Room', 'agent', 'ag-worker', '2026-01-01')");

    const report = json('import-nanoclaw', install());
    expect(acl('ag-andy')).toEqual([
      ['equipe-ops', 'channel', 'mg-equipe'],
      ['home', 'channel', 'mg-family'],
      ['ops-room', 'channel', 'mg-ops'],
      ['ops-room-2', 'agent', 'ag-worker'],
    ]);
    expect(row(report, 'agent_destinations', 'ag-andy:Équipe Ops ✨')!.notes).toEqual([expect.stringContaining('equipe-ops')]);
    expect(row(report, 'agent_destinations', 'ag-andy:Ops Room')!.notes).toEqual([expect.stringContaining('ops-room-2')]);
    expect(row(report, 'agent_destinations', 'ag-andy:ops-room')!.notes).toEqual([]);
    // The chat's display name is kept as it was.
    expect(json('channels', 'show', 'mg-equipe').chat.name).toBe('Équipe Ops ✨');

    expect(readFileSync(join(dataDir(), 'groups', 'andy', 'CLAUDE.md'), 'utf8')).toBe('# Andy\n');
    expect(readFileSync(join(dataDir(), 'groups', 'andy', 'notes', 'today.md'), 'utf8')).toBe('milk\n');
    expect(existsSync(join(dataDir(), 'groups', 'andy', 'leak.md'))).toBe(false);
    expect(report.folders).toEqual([expect.objectContaining({ folder: 'andy', copied: 2, skipped: [expect.stringContaining('leak.md')] })]);
  });

  it('--dry-run prints the plan, every row with its outcome, and writes nothing', () => {
    buildNanoclaw(install(), { groups: { andy: { 'CLAUDE.md': '# Andy\n' } } });
    edit("UPDATE messaging_group_agents SET trigger_rules = ? WHERE id = 'w1'", JSON.stringify({ pattern: '?help', requiresTrigger: true }));
    const dry = cli('import-nanoclaw', install(), '--dry-run');
    expect(dry.status).toBe(0);
    expect(dry.stdout).toContain('dry run: nothing was written');
    for (const key of ['ag-admin', 'ag-andy', 'ag-worker', 'mg-family', 'mg-ops', 'ag-andy:home', 'mg-family:ag-andy', 'mg-ops:ag-admin', 'sess-a', 'sess-w']) {
      expect(dry.stdout).toMatch(new RegExp(`(import|mapped) +\\S+ +${key.replace(/[?]/g, '\\?')}\\b`));
    }
    expect(dry.stdout).toMatch(/mapped +messaging_group_agents +mg-family:ag-andy .*literal text/);
    expect(existsSync(dataDir())).toBe(false);
  });

  it('refuses the whole import when one row is refused, unless --skip-refused', () => {
    buildNanoclaw(install());
    edit("UPDATE messaging_group_agents SET trigger_rules = ? WHERE id = 'w1'", JSON.stringify({ pattern: '^(?!bot)@andy', requiresTrigger: true }));

    const refused = cli('import-nanoclaw', install(), '--json');
    expect(refused.status).toBe(1);
    const report = JSON.parse(refused.stdout);
    expect(report.applied).toBe(false);
    expect(row(report, 'messaging_group_agents', 'mg-family:ag-andy')).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/no backreferences or lookaround/) });
    expect(json('status').log.lastPosition).toBe(0);

    const skipped = json('import-nanoclaw', install(), '--skip-refused');
    expect(skipped.applied).toBe(true);
    expect(wirings().map((w: string[]) => w[1])).toEqual(['ag-admin']);
  });

  it('a re-import after the source changed applies only the differences: a changed wiring is updated', () => {
    buildNanoclaw(install());
    expect(cli('import-nanoclaw', install()).status).toBe(0);
    const before = json('status').log.lastPosition;
    edit("UPDATE messaging_group_agents SET trigger_rules = ?, priority = 5 WHERE id = 'w1'", JSON.stringify({ pattern: '^@andrew', requiresTrigger: true }));
    edit("UPDATE messaging_groups SET name = 'Family chat' WHERE id = 'mg-family'");
    edit("UPDATE agent_destinations SET target_id = 'ag-andy' WHERE agent_group_id = 'ag-worker' AND local_name = 'parent'");

    // A dry run against the populated data directory plans the update on a copy and leaves the log as it was.
    const dry = cli('import-nanoclaw', install(), '--dry-run');
    expect(dry.stdout).toMatch(/update +messaging_group_agents +mg-family:ag-andy/);
    expect(dry.stdout).toMatch(/same +messaging_group_agents +mg-ops:ag-admin/);
    expect(json('status').log.lastPosition).toBe(before);

    const report = json('import-nanoclaw', install());
    expect(report.rows.filter((r: PlanRow) => r.outcome !== 'unchanged').map((r: PlanRow) => [r.table, r.key, r.outcome])).toEqual([
      ['messaging_groups', 'mg-family', 'updated'],
      ['agent_destinations', 'ag-worker:parent', 'updated'],
      ['messaging_group_agents', 'mg-family:ag-andy', 'updated'],
    ]);
    expect(wirings()[0]).toEqual(['mg-family', 'ag-andy', 'shared', 5, '^@andrew']);
    // The name moved to another target in NanoClaw, so it moves here too.
    expect(acl('ag-worker')).toEqual([['parent', 'agent', 'ag-andy']]);
    const appended = cli('events', '--from', String(before + 1), '--jsonl').stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string });
    expect(appended.map((e) => e.type)).toEqual(['MessagingGroupUpdated', 'DestinationRemoved', 'DestinationAdded', 'ChannelUnwired', 'ChannelWired']);
  });

  it('reports progress on stderr for a large install', () => {
    buildNanoclaw(install());
    const db = new Database(join(install(), 'v2.db'));
    const chat = db.prepare("INSERT INTO messaging_groups VALUES (?, 'telegram', ?, ?, 1, NULL, '2026-01-01')");
    db.transaction(() => {
      for (let i = 0; i < 1200; i++) chat.run(`mg-${i}`, `-${5000 + i}`, `Chat ${i}`);
    })();
    db.close();
    const result = cli('import-nanoclaw', install());
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/import-nanoclaw: 500\/1212 rows/);
    expect(result.stderr).toMatch(/import-nanoclaw: 1212\/1212 rows/);
  });

  it('refuses a database it does not understand, naming what is missing, and a path with no database', () => {
    mkdirSync(join(tempDir(), 'partial'));
    buildNanoclaw(join(tempDir(), 'partial'), { withWirings: false });
    const partial = cli('import-nanoclaw', join(tempDir(), 'partial', 'v2.db'));
    expect(partial.status).toBe(1);
    expect(partial.stderr).toContain('it has no table messaging_group_agents');
    const missing = cli('import-nanoclaw', join(tempDir(), 'nowhere'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('does not exist');
  });
});
