import { join } from 'node:path';
import { AddDestination, RemoveDestination } from '../../src/commands/destinations';
import { RecordImageBuildFailed, RecordImageBuilt, RecordImagesPruned, StartImageBuild } from '../../src/commands/images';
import { openCore } from '../../src/core';
import { migrate } from '../../src/db/migrate';
import { openDatabase } from '../../src/db/sqlite';
import { projections } from '../../src/projections';
import { compareTables, ProjectionRunner } from '../../src/projections/runner';
import { seedScenario } from '../support/scenario';
import { useTempDir } from '../support/temp';

describe('projections', () => {
  const tempDir = useTempDir();

  it('a rebuild from the log equals the live tables exactly, and the ACL is temporal', () => {
    const core = openCore(join(tempDir(), 'live.db'));
    try {
      seedScenario(core);
      for (let i = 0; i < 50; i++) {
        const agentGroupId = ['ag-admin', 'ag-andy', 'ag-research'][i % 3]!;
        core.bus.dispatch(AddDestination.envelope(`add-${i}`, { agentGroupId, localName: `dest ${i % 7}`, targetType: i % 2 ? 'agent' : 'channel', targetId: i % 2 ? 'ag-andy' : 'mg-ops' }));
        if (i % 4 === 0) core.bus.dispatch(RemoveDestination.envelope(`rm-${i}`, { agentGroupId, localName: `dest ${i % 7}` }));
      }
      // Image builds: one built, one failed, one left open, one image pruned.
      const buildOf = (commandId: string) => (core.store.readAt((core.bus.dispatch(StartImageBuild.envelope(commandId, { agentGroupId: 'ag-andy', trigger: 'operator:test' })) as { events: { position: number }[] }).events[0]!.position)!.data as { buildId: string }).buildId;
      core.bus.dispatch(RecordImageBuilt.envelope('built', { buildId: buildOf('b1'), tag: 'switchyard-agent:1', hash: '1', sizeBytes: 10, resolved: [], durationMs: 5, reused: false }));
      core.bus.dispatch(RecordImageBuildFailed.envelope('failed', { buildId: buildOf('b2'), reason: 'no such package', durationMs: 3 }));
      buildOf('b3');
      core.bus.dispatch(RecordImagesPruned.envelope('pruned', { tags: ['switchyard-agent:1'] }));
      const rebuiltPath = join(tempDir(), 'rebuilt.db');
      const rebuilt = openDatabase(rebuiltPath);
      migrate(rebuilt);
      const replayed = new ProjectionRunner(rebuilt, projections).rebuild(core.store.readAll());
      rebuilt.close();
      expect(replayed).toBe(core.store.lastPosition());
      const comparison = compareTables(core.store.db, rebuiltPath, core.projections.tables());
      expect(comparison.map((t) => t.table)).toEqual(['agent_groups', 'messaging_groups', 'messaging_group_agents', 'destinations', 'sessions', 'audit', 'audit_trace', 'agent_messages', 'agent_message_chains', 'containers', 'approvals', 'tasks', 'message_retries', 'questions', 'image_builds', 'routing_decisions']);
      expect(comparison.every((t) => t.equal)).toBe(true);

      // Rebuilding in place gives the same rows as before.
      const snapshot = () => core.projections.tables().map((table) => core.store.db.prepare(`SELECT * FROM ${table}`).all().map((row) => JSON.stringify(row)).sort());
      const before = snapshot();
      core.projections.rebuild(core.store.readAll());
      expect(snapshot()).toEqual(before);

      const first = core.store.db.prepare("SELECT * FROM destinations WHERE revoked_at IS NOT NULL ORDER BY granted_at LIMIT 1").get() as {
        agent_group_id: string; local_name: string; granted_at: number; revoked_at: number;
      };
      const { agent_group_id: group, local_name: name } = first;
      expect(core.views.destinations.find(group, name, first.granted_at)).toMatchObject({ granted_at: first.granted_at });
      expect(core.views.destinations.find(group, name, first.revoked_at)?.granted_at).not.toBe(first.granted_at);
      expect(core.views.destinations.find(group, name, first.granted_at - 1)?.granted_at).not.toBe(first.granted_at);
    } finally {
      core.close();
    }
  });
});

describe('opening a log whose schema gained a read model', () => {
  const tempDir = useTempDir();

  it('derives the new projection from the existing history instead of serving it empty', () => {
    const path = join(tempDir(), 'live.db');
    const core = openCore(path);
    seedScenario(core);
    const audit = core.store.db.prepare('SELECT count(*) FROM audit').pluck();
    const routedAndDropped = audit.get();
    // As if the audit projection had arrived with a later release: its migrations undone (the table, its index, its later columns).
    core.store.db.exec(
      "DROP TABLE audit; DROP TABLE audit_trace; DROP TABLE agent_messages; DELETE FROM schema_migrations WHERE file IN ('0004_audit.sql', '0005_audit_platform_id.sql', '0020_delivery_recovery.sql')",
    );
    core.close();
    const reopened = openCore(path);
    try {
      expect(reopened.store.db.prepare('SELECT count(*) FROM audit').pluck().get()).toBe(routedAndDropped);
      expect(routedAndDropped).toBe(5);
    } finally {
      reopened.close();
    }
  });
});
