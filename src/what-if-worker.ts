import { parentPort, workerData } from 'node:worker_threads';
import { openCore } from './core';
import { judgeSlice, type ProposedChange, type WhatIfWindow } from './what-if';

/** One slice of a what-if window, judged in a worker thread on its own connection (see whatIfParallel). */
const { databasePath, proposed, window } = workerData as { databasePath: string; proposed: ProposedChange; window: WhatIfWindow };
const core = openCore(databasePath, { synchronous: 'NORMAL' });
try {
  parentPort!.postMessage({ result: judgeSlice(core, proposed, window) });
} catch (error) {
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  parentPort!.postMessage({ error: { name, message } });
} finally {
  core.close();
}
