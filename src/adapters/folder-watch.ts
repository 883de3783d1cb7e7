import { watch, type FSWatcher } from 'node:fs';
import { assertRealFolder } from './session-db';

/**
 * Calls `onChange` whenever one of the named files in a session folder changes: inotify
 * on the folder itself, so a commit by the agent is seen at once instead of at the next
 * poll. Only the folder is watched, after checking it is a real directory at its own
 * path: the agent controls what is inside it, and a link planted there is never followed
 * (the event names the entry; whoever reacts opens it with the usual checks). Events are
 * hints, never the only path: a missed or spurious one costs at most a poll interval or
 * one empty read.
 */
export function watchFolderFiles(dir: string, names: ReadonlySet<string>, onChange: () => void, onError: (error: Error) => void): FSWatcher {
  assertRealFolder(dir);
  // Not persistent: a watch must never keep a stopping process alive.
  const watcher = watch(dir, { persistent: false }, (_type, filename) => {
    // Linux always names the entry; a platform that does not gets a (harmless) read.
    if (filename === null || names.has(filename.toString())) onChange();
  });
  watcher.on('error', onError);
  return watcher;
}
