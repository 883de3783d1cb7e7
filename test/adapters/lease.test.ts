import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { once } from 'node:events';
import { acquireLease, LeaseHeldError, leaseHolder } from '../../src/adapters/lease';
import { useTempDir } from '../support/temp';

describe('the single-writer lease on a data directory', () => {
  const tempDir = useTempDir();

  it('refuses a second holder, naming the live holder’s pid, and takes over from a dead one', async () => {
    const lease = join(__dirname, '../../dist/src/adapters/lease.js');
    const holder = spawn(process.execPath, ['-e', `require(${JSON.stringify(lease)}).acquireLease(${JSON.stringify(tempDir())}); console.log('held'); setInterval(() => {}, 1000);`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await once(holder.stdout!, 'data');
    expect(leaseHolder(tempDir())).toBe(holder.pid);
    expect(() => acquireLease(tempDir())).toThrow(LeaseHeldError);
    expect(() => acquireLease(tempDir())).toThrow(`held by another switchyard host (pid ${holder.pid})`);

    holder.kill('SIGKILL');
    await once(holder, 'exit');
    const release = acquireLease(tempDir());
    expect(leaseHolder(tempDir())).toBe(process.pid);
    release();
    expect(leaseHolder(tempDir())).toBeUndefined();
  });
});
