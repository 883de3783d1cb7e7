import type Database from 'better-sqlite3';
import { ImageBuildFailed, ImageBuilt, ImageBuildStarted, ImagesPruned } from '../events/images';
import { defineProjection } from './runner';

export type ImageBuildStatus = 'building' | 'built' | 'failed';

export interface ImageBuildRow {
  build_id: string;
  agent_group_id: string;
  status: ImageBuildStatus;
  trigger: string;
  packages: string;
  tag: string | null;
  hash: string | null;
  size_bytes: number | null;
  resolved: string | null;
  reused: 0 | 1 | null;
  duration_ms: number | null;
  reason: string | null;
  log_tail: string | null;
  started_at: string;
  finished_at: string | null;
  finished_position: number | null;
  pruned_at: string | null;
}

/** Every build of every agent group's image, and so each group's current image. */
export const imagesProjection = defineProjection({
  name: 'images',
  tables: ['image_builds'],
  bind(db, on) {
    const started = db.prepare(
      `INSERT INTO image_builds (build_id, agent_group_id, status, trigger, packages, started_at)
       VALUES (@buildId, @agentGroupId, 'building', @trigger, @packages, @at)`,
    );
    const built = db.prepare(
      `UPDATE image_builds SET status = 'built', tag = @tag, hash = @hash, size_bytes = @sizeBytes, resolved = @resolved, reused = @reused,
         duration_ms = @durationMs, finished_at = @at, finished_position = @position WHERE build_id = @buildId`,
    );
    const failed = db.prepare(
      `UPDATE image_builds SET status = 'failed', reason = @reason, log_tail = @logTail, duration_ms = @durationMs, finished_at = @at,
         finished_position = @position WHERE build_id = @buildId`,
    );
    const pruned = db.prepare(`UPDATE image_builds SET pruned_at = ? WHERE tag = ? AND pruned_at IS NULL`);
    on(ImageBuildStarted, (data, event) => started.run({ ...data, packages: JSON.stringify(data.packages), at: event.metadata.recordedAt }));
    on(ImageBuilt, (data, event) =>
      built.run({ ...data, resolved: JSON.stringify(data.resolved), reused: data.reused ? 1 : 0, at: event.metadata.recordedAt, position: event.position }),
    );
    on(ImageBuildFailed, (data, event) => failed.run({ ...data, at: event.metadata.recordedAt, position: event.position }));
    on(ImagesPruned, (data, event) => data.tags.forEach((tag) => pruned.run(event.metadata.recordedAt, tag)));
  },
});

export class ImagesView {
  private readonly byId: Database.Statement;
  private readonly latestBuilt: Database.Statement;
  private readonly inFlight: Database.Statement;
  private readonly builtRows: Database.Statement;

  constructor(db: Database.Database) {
    this.byId = db.prepare('SELECT * FROM image_builds WHERE build_id = ?');
    this.latestBuilt = db.prepare(`SELECT * FROM image_builds WHERE agent_group_id = ? AND status = 'built' ORDER BY finished_position DESC LIMIT 1`);
    this.inFlight = db.prepare(`SELECT * FROM image_builds WHERE status = 'building' ORDER BY started_at, build_id`);
    this.builtRows = db.prepare(`SELECT * FROM image_builds WHERE status = 'built' ORDER BY finished_position`);
  }

  get(buildId: string): ImageBuildRow | undefined {
    return this.byId.get(buildId) as ImageBuildRow | undefined;
  }

  /** The group's latest successful build: the image its sessions start in unless the operator named another. */
  current(agentGroupId: string): ImageBuildRow | undefined {
    return this.latestBuilt.get(agentGroupId) as ImageBuildRow | undefined;
  }

  /** Builds started and never finished. */
  building(): ImageBuildRow[] {
    return this.inFlight.all() as ImageBuildRow[];
  }

  /** Every successful build, oldest first. */
  built(): ImageBuildRow[] {
    return this.builtRows.all() as ImageBuildRow[];
  }
}
