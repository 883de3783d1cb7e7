import type Database from 'better-sqlite3';
import { MessagingGroupRegistered, MessagingGroupUpdated } from '../events/messaging-groups';
import { defineProjection } from './runner';

export interface MessagingGroupRow {
  id: string;
  channel_type: string;
  platform_id: string;
  name: string | null;
  is_group: 0 | 1;
  admin_user_id: string | null;
  registered_by: string;
  created_at: string;
}

/** Chats on platforms, unique by (channel_type, platform_id). */
export const messagingGroupsProjection = defineProjection({
  name: 'messaging-groups',
  tables: ['messaging_groups'],
  bind(db, on) {
    const insert = db.prepare(
      `INSERT INTO messaging_groups (id, channel_type, platform_id, name, is_group, admin_user_id, registered_by, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const update = db.prepare(
      `UPDATE messaging_groups SET
         name = CASE WHEN @setName THEN @name ELSE name END,
         is_group = coalesce(@isGroup, is_group),
         admin_user_id = CASE WHEN @setAdmin THEN @adminUserId ELSE admin_user_id END
       WHERE id = @id`,
    );
    on(MessagingGroupRegistered, (data, event) => {
      insert.run(data.messagingGroupId, data.channelType, data.platformId, data.name, data.isGroup ? 1 : 0, data.adminUserId, data.registeredBy, event.metadata.recordedAt);
    });
    on(MessagingGroupUpdated, (data) => {
      update.run({
        id: data.messagingGroupId,
        setName: data.name === undefined ? 0 : 1,
        name: data.name ?? null,
        isGroup: data.isGroup === undefined ? null : data.isGroup ? 1 : 0,
        setAdmin: data.adminUserId === undefined ? 0 : 1,
        adminUserId: data.adminUserId ?? null,
      });
    });
  },
});

export class MessagingGroupsView {
  private readonly byId: Database.Statement;
  private readonly byPlatformId: Database.Statement;
  private readonly all: Database.Statement;

  constructor(db: Database.Database) {
    this.byId = db.prepare('SELECT * FROM messaging_groups WHERE id = ?');
    this.byPlatformId = db.prepare('SELECT * FROM messaging_groups WHERE channel_type = ? AND platform_id = ?');
    this.all = db.prepare('SELECT * FROM messaging_groups ORDER BY channel_type, platform_id');
  }

  get(id: string): MessagingGroupRow | undefined {
    return this.byId.get(id) as MessagingGroupRow | undefined;
  }

  byPlatform(channelType: string, platformId: string): MessagingGroupRow | undefined {
    return this.byPlatformId.get(channelType, platformId) as MessagingGroupRow | undefined;
  }

  list(): MessagingGroupRow[] {
    return this.all.all() as MessagingGroupRow[];
  }
}
