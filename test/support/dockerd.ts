import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';

export interface Dockerd {
  socketPath: string;
  docker: Dockerode;
  stop(): Promise<void>;
}

/**
 * A Docker engine of the test's own: its socket, data root and exec root in a temp dir,
 * vfs storage, no iptables and no bridge (nothing on this machine changes). Resolves with
 * why it cannot run when dockerd is not installed (.ci/run installs docker.io).
 */
export async function startDockerd(): Promise<Dockerd | { skipped: string }> {
  if (spawnSync('dockerd', ['--version']).status !== 0) return { skipped: 'dockerd is not installed (apt-get install docker.io)' };
  if (process.getuid?.() !== 0) return { skipped: 'dockerd needs root here' };
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-dockerd-'));
  const socketPath = join(dir, 'docker.sock');
  let log = '';
  const daemon = spawn(
    'dockerd',
    ['--host', `unix://${socketPath}`, '--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'docker.pid'), '--storage-driver', 'vfs', '--iptables=false', '--bridge=none'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  daemon.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  daemon.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
  const docker = new Dockerode({ socketPath });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await docker.ping().then(() => true, () => false);
    if (ready) break;
    if (daemon.exitCode !== null || Date.now() > deadline) {
      daemon.kill('SIGKILL');
      throw new Error(`dockerd did not answer:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    socketPath,
    docker,
    async stop() {
      daemon.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
