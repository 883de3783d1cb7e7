import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const LEASE_FILE = 'host.lock';

export class LeaseHeldError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holderPid: number,
  ) {
    super(`the data directory ${dataDir} is held by another switchyard host (pid ${holderPid}); stop it first or use another --data-dir`);
    this.name = 'LeaseHeldError';
  }
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The pid holding the data directory, if a live process does. */
export function leaseHolder(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, LEASE_FILE), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The single-writer lease on a data directory: one host at a time runs its pollers and
 * delivery there. Taken with an exclusive create; a lease left by a dead process is
 * taken over. Returns the release function.
 */
export function acquireLease(dataDir: string): () => void {
  const path = join(dataDir, LEASE_FILE);
  for (let tries = 0; tries < 3; tries++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        if (leaseHolder(dataDir) === process.pid) rmSync(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = leaseHolder(dataDir);
      if (holder !== undefined) throw new LeaseHeldError(dataDir, holder);
      rmSync(path, { force: true });
    }
  }
  throw new Error(`could not take the lease ${path}: it keeps reappearing`);
}
