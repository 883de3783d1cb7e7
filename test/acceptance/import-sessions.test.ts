import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { payloadHash } from '../../src/commands/system-actions';
import { centralDatabasePath, openCore } from '../../src/core';
import { runCli } from '../support/cli';
import { FakePlatform, postAction } from '../support/fake-platform';
import { startHost } from '../support/host-process';
import { buildNanoclaw } from '../support/nanoclaw-install';
import { addWebhookSession } from '../support/nanoclaw-sessions';
import { useTempDir } from '../support/temp';
import { waitForEvents, waitUntil } from '../support/wait';

/** Every file under dir (links included, never followed) with a hash of its bytes or its link target. */
function snapshot(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const path = join(prefix, entry.name);
    if (entry.isDirectory()) Object.assign(out, snapshot(dir, path));
    else {
      const stat = lstatSync(join(dir, path));
      out[path] = stat.isSymbolicLink() ? 'link' : createHash('sha256').update(readFileSync(join(dir, path))).digest('hex');
    }
  }
  return out;
}

describe('import-nanoclaw adopts session folders, and the host carries on where NanoClaw stopped (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  const nanoclaw = () => join(tempDir(), 'nanoclaw');
  const cli = (...args: string[]) => runCli(['--data-dir', dataDir(), ...args]);
  let platform: FakePlatform;

  beforeEach(async () => {
    platform = await FakePlatform.start();
    buildNanoclaw(nanoclaw());
    addWebhookSession(nanoclaw());
  });
  afterEach(() => platform.close());

  it.each(['seed', 'v2.0.64'] as const)('from a %s install: answers each pending message once, delivers each undelivered reply once, re-sends and re-runs nothing, and replays equal', async (version) => {
    rmSync(nanoclaw(), { recursive: true, force: true });
    buildNanoclaw(nanoclaw(), { version });
    addWebhookSession(nanoclaw(), version);
    const before = snapshot(nanoclaw());
    const imported = cli('import-nanoclaw', nanoclaw(), '--json');
    expect(imported.stderr).toBe('');
    expect(imported.status).toBe(0);
    const report = JSON.parse(imported.stdout);
    expect(report.sessionFolders).toEqual(
      expect.objectContaining({
        adopted: 1,
        alreadyAdopted: 0,
        rows: { pendingInbound: 1, inFlight: 1, alreadyDelivered: 5, undelivered: 1, files: 2 },
        refused: [],
        // The seed sessions have no folder at the source: Switchyard makes empty ones, and says so.
        notes: [
          { key: 'sess-a', note: expect.stringContaining('no session folder') },
          { key: 'sess-w', note: expect.stringContaining('no session folder') },
        ],
        skipped: [{ key: 'sess-web', path: 'inbox/in-pending/passwd', reason: expect.stringContaining('not a regular file') }],
      }),
    );
    // The source is read, never changed.
    expect(snapshot(nanoclaw())).toEqual(before);
    const copy = join(dataDir(), 'sessions', 'ag-andy', 'sess-web');
    expect(report.pendingCards).toEqual([
      { table: 'pending_approvals', imported: 1, alreadyImported: 0, refused: [] },
      { table: 'pending_questions', imported: 1, alreadyImported: 0, refused: [] },
    ]);
    expect(readFileSync(join(copy, 'inbox', 'in-pending', 'note.txt'), 'utf8')).toBe('the attachment');
    expect(existsSync(join(copy, 'inbox', 'in-pending', 'passwd'))).toBe(false);

    const host = await startHost(dataDir(), platform.url, { SWITCHYARD_RUNTIME: 'process', SWITCHYARD_RUNNER_POLL_MS: '50', SWITCHYARD_SWEEP_INTERVAL_MS: '200' });
    const core = openCore(centralDatabasePath(dataDir()));
    try {
      const received = await platform.waitFor(3, 20_000);
      const textOf = (d: { content: unknown }) => (d.content as { text?: string }).text;
      expect(received.map(textOf).sort()).toEqual(['echo: in flight', 'echo: pending one', 'undelivered reply']);
      const reply = received.find((d) => textOf(d) === 'undelivered reply')!;
      expect(reply.files.map((f) => [f.name, Buffer.from(f.data, 'base64').toString()])).toEqual([['report.txt', 'the report']]);

      // Settled: the agent's verdicts are copied into inbound.db, and the poller has read every row there is.
      const inbound = () => new Database(join(copy, 'inbound.db'), { readonly: true });
      await waitUntil(() => {
        const db = inbound();
        try {
          return (db.prepare(`SELECT count(*) FROM messages_in WHERE id IN ('in-pending', 'in-flight') AND status = 'completed'`).pluck().get() as number) === 2;
        } finally {
          db.close();
        }
      }, 'the imported messages answered');
      await waitForEvents(core.store, (e) => e.type === 'DeliverySucceeded', 3);
      // The card NanoClaw sent is answered by a click in its chat, once, with an option it showed.
      expect((await postAction(host.url, { platformId: 'web-1', questionId: 'q-1', selectedOption: 'Maybe', userId: 'u-web' })).json).toEqual({ accepted: false, reason: expect.stringContaining('unknown-option') });
      expect((await postAction(host.url, { platformId: 'web-1', questionId: 'q-1', selectedOption: 'Yes', userId: 'u-web' })).json).toEqual({ accepted: true });
      await waitUntil(() => {
        const db = inbound();
        try {
          return db.prepare(`SELECT count(*) FROM messages_in WHERE kind = 'system' AND content LIKE '%"questionId":"q-1","selectedOption":"Yes"%'`).pluck().get() === 1;
        } finally {
          db.close();
        }
      }, 'the answer in the asking session');
      await waitUntil(() => {
        const out = new Database(join(copy, 'outbound.db'), { readonly: true });
        try {
          const last = out.prepare('SELECT max(rowid) FROM messages_out').pluck().get() as number;
          const checkpoint = core.store.db.prepare(`SELECT position FROM checkpoints WHERE consumer = 'outbound-rows:sess-web'`).pluck().get() as number;
          return checkpoint >= last;
        } finally {
          out.close();
        }
      }, 'the poller past every row');
    } finally {
      host.child.kill('SIGTERM');
      expect((await host.done).status).toBe(0);
    }
    try {
      expect(platform.received).toHaveLength(3);
      const types = [...core.store.readAll()].map((e) => e.type);
      // The delivered install_packages request and agent message were not handled again: the one request is NanoClaw's, imported.
      for (const type of ['SystemActionAccepted', 'AgentMessageDelivered', 'OutboundDropped', 'DeliveryFailed']) expect(types).not.toContain(type);
      expect([...core.store.readAll({ type: 'ApprovalRequested' })].map((e) => (e.data as { approvalId: string }).approvalId)).toEqual(['appr-old']);
      const db = new Database(join(copy, 'inbound.db'), { readonly: true });
      const outcomes = Object.fromEntries(
        (db.prepare('SELECT message_out_id, platform_message_id, status FROM delivered').all() as Array<Record<string, string | null>>).map((r) => [r.message_out_id, [r.platform_message_id, r.status]]),
      );
      db.close();
      expect(outcomes).toMatchObject({
        'out-old': ['tg-1', 'delivered'],
        'out-late': ['tg-2', 'delivered'],
        'out-sys': [null, 'delivered'],
        'out-a2a': [null, 'delivered'],
        'out-undelivered': [expect.stringMatching(/^pm-/), 'delivered'],
      });
      // Those six and the agent's answers: two messages, and the answer to its question.
      expect(Object.keys(outcomes).length).toBeGreaterThanOrEqual(8);
    } finally {
      core.close();
    }
    // NanoClaw's pending request waits for the admin here, for the hash of exactly its payload.
    const approval = JSON.parse(cli('approvals', 'show', 'appr-old', '--json').stdout);
    expect(approval).toEqual(expect.objectContaining({ approval_id: 'appr-old', session_id: 'sess-web', status: 'pending', action: 'install_packages', payload_hash: payloadHash({ apt: ['curl'], npm: [], reason: 'needed' }) }));
    const verify = cli('replay', '--verify');
    expect(verify.stdout).not.toContain('DIFFERS');
    expect(verify.status).toBe(0);

    // A second import adopts nothing again and leaves the folder the host now owns alone.
    const again = JSON.parse(cli('import-nanoclaw', nanoclaw(), '--json').stdout);
    expect(again.sessionFolders).toEqual(expect.objectContaining({ adopted: 0, alreadyAdopted: 1 }));
  });

  it('refuses hostile session and agent group ids with the reason, writes nothing outside the data directory, and start still comes up', async () => {
    const db = new Database(join(nanoclaw(), 'v2.db'));
    db.exec(`
      INSERT INTO agent_groups VALUES ('../evil', 'Evil', 'evil', 0, NULL, NULL, '2026-01-01');
      INSERT INTO sessions VALUES ('../../../escape', 'ag-andy', 'mg-family', NULL, NULL, 'active', 'stopped', NULL, '2026-01-01');
      INSERT INTO sessions VALUES ('sess-evil', '../evil', NULL, NULL, NULL, 'active', 'stopped', NULL, '2026-01-01');
      INSERT INTO sessions VALUES ('sess-closed', 'ag-andy', 'mg-family', NULL, NULL, 'closed', 'stopped', NULL, '2026-01-01');
      INSERT INTO pending_approvals VALUES ('appr-odd', 'sess-web', 'r-2', 'delete_everything', '{}', '2026-01-02');
      INSERT INTO pending_approvals VALUES ('appr-bad', 'sess-web', 'r-3', 'install_packages', '{"apt":["curl; rm -rf /"]}', '2026-01-02');
      INSERT INTO pending_questions VALUES ('q-lost', 'sess-gone', 'out-x', 'web-1', 'webhook', NULL, '2026-01-02');
    `);
    db.close();

    // All or nothing by default: a hostile id refuses the whole import, with its reason, and writes nothing.
    const whole = cli('import-nanoclaw', nanoclaw(), '--json');
    expect(whole.status).toBe(1);
    expect(JSON.parse(whole.stdout)).toMatchObject({ applied: false });
    expect(readdirSync(tempDir()).sort()).toEqual(['data', 'nanoclaw']);

    const imported = cli('import-nanoclaw', nanoclaw(), '--skip-refused', '--json');
    expect(imported.status).toBe(1);
    const report = JSON.parse(imported.stdout);
    const refused = (table: string) =>
      report.rows.filter((r: { table: string; outcome: string }) => r.table === table && r.outcome === 'refused').map((r: { key: string; reason: string }) => ({ key: r.key, reason: r.reason }));
    expect(refused('agent_groups')).toEqual([{ key: '../evil', reason: expect.stringContaining('cannot name a folder') }]);
    expect(refused('sessions')).toEqual([
      { key: '../../../escape', reason: expect.stringMatching(/unsafe-id: session id "..\/..\/..\/escape" cannot name a folder/) },
      { key: 'sess-evil', reason: expect.stringContaining('unsafe-id: agent group id "../evil"') },
    ]);
    expect(report.pendingCards).toEqual([
      {
        table: 'pending_approvals',
        imported: 1,
        alreadyImported: 0,
        refused: [
          { key: 'appr-odd', reason: expect.stringContaining('unknown-action') },
          { key: 'appr-bad', reason: expect.stringContaining('invalid-request: install_packages: apt.0: expected an apt package name') },
        ],
      },
      { table: 'pending_questions', imported: 1, alreadyImported: 0, refused: [{ key: 'q-lost', reason: 'unknown-session: no session sess-gone' }] },
    ]);
    expect(readdirSync(tempDir()).sort()).toEqual(['data', 'nanoclaw']);
    const sessions = JSON.parse(cli('sessions', 'list', '--json').stdout).map((s: { id: string; status: string }) => [s.id, s.status]);
    expect(sessions).toEqual(expect.arrayContaining([['sess-closed', 'closed'], ['sess-web', 'active']]));

    const host = await startHost(dataDir(), platform.url);
    host.child.kill('SIGTERM');
    expect((await host.done).status).toBe(0);
    expect(cli('replay', '--verify').status).toBe(0);
  });
});
