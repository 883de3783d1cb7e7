import { join } from 'node:path';
import { AddDestination, RemoveDestination } from '../../src/commands/destinations';
import { openCore } from '../../src/core';
import { migrate } from '../../src/db/migrate';
import { openDatabase } from '../../src/db/sqlite';
import { projections } from '../../src/projections';
import { compareTables, ProjectionRunner } from '../../src/projections/runner';
import { useTempDir } from '../support/temp';

describe('projections', () => {
  const tempDir = useTempDir();

  it('a rebuild from the log equals the live tables exactly, and the ACL is temporal', () => {
    const core = openCore(join(tempDir(), 'live.db'));
    try {
      for (let i = 0; i < 50; i++) {
        core.bus.dispatch(AddDestination.envelope(`add-${i}`, { agentGroupId: `ag-${i % 3}`, localName: `dest ${i % 7}`, targetType: i % 2 ? 'agent' : 'channel', targetId: `t-${i}` }));
        if (i % 4 === 0) core.bus.dispatch(RemoveDestination.envelope(`rm-${i}`, { agentGroupId: `ag-${i % 3}`, localName: `dest ${i % 7}` }));
      }
      const rebuiltPath = join(tempDir(), 'rebuilt.db');
      const rebuilt = openDatabase(rebuiltPath);
      migrate(rebuilt);
      const replayed = new ProjectionRunner(rebuilt, projections).rebuild(core.store.readAll());
      rebuilt.close();
      expect(replayed).toBe(core.store.lastPosition());
      expect(compareTables(core.store.db, rebuiltPath, core.projections.tables())).toEqual([
        { table: 'destinations', equal: true, onlyLive: 0, onlyRebuilt: 0 },
      ]);

      // Rebuilding in place gives the same rows as before.
      const before = core.store.db.prepare('SELECT * FROM destinations ORDER BY granted_at').all();
      core.projections.rebuild(core.store.readAll());
      expect(core.store.db.prepare('SELECT * FROM destinations ORDER BY granted_at').all()).toEqual(before);

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
