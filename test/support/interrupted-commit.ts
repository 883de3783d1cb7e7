import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * What an agent killed in the middle of a commit leaves in its outbound.db: a real child
 * process writes rows in one transaction, with a page cache so small that the changed pages
 * reach the file before the commit, and is killed (SIGKILL) before it commits. The rollback
 * journal beside the file is then hot: only a connection that may write can read the file.
 */
export function leaveInterruptedCommit(outboundDb: string): void {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.pragma('cache_size = 5');
    db.exec('BEGIN');
    const insert = db.prepare("INSERT INTO messages_out (id, seq, timestamp, kind, content) VALUES (?, ?, '2026-11-25 10:00:00', 'chat', ?)");
    for (let i = 0; i < 2000; i++) insert.run('unfinished-' + i, 100001 + 2 * i, JSON.stringify({ text: 'x'.repeat(1000) }));
    process.kill(process.pid, 'SIGKILL');`;
  const child = spawnSync(process.execPath, ['-e', script, outboundDb], { cwd: __dirname, encoding: 'utf8' });
  if (child.signal !== 'SIGKILL') throw new Error(`the writer was to be killed mid-commit, but it ended with ${child.status}: ${child.stderr}`);
  if (!existsSync(`${outboundDb}-journal`)) throw new Error('the killed writer left no rollback journal');
}
