import { parentPort, workerData } from 'node:worker_threads';
import { openCore } from './core';
import { judgeSlice, type ProposedChange, type WhatIfWindow, type WorkerMessage } from './what-if';

/** One slice of a what-if window, judged in a worker thread on its own connection (see whatIfParallel). */
const { databasePath, proposed, window, reportProgress } = workerData as { databasePath: string; proposed: ProposedChange; window: WhatIfWindow; reportProgress: boolean };
const post = (message: WorkerMessage) => parentPort!.postMessage(message);
const core = openCore(databasePath, { synchronous: 'NORMAL' });
try {
  post({ result: judgeSlice(core, proposed, window, reportProgress ? (progress) => post({ progress }) : undefined) });
} catch (error) {
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  post({ error: { name, message } });
} finally {
  core.close();
}
