import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { describeWhere, suiteMode, type Requirement } from './requirement';

export interface Dockerd {
  socketPath: string;
  docker: Dockerode;
  stop(): Promise<void>;
}

/** Why no engine of the test's own can be started here, or undefined when one can. */
export function dockerdUnavailable(): string | undefined {
  if (spawnSync('dockerd', ['--version']).status !== 0) return 'dockerd is not installed (apt-get install docker.io)';
  if (process.getuid?.() !== 0) return 'dockerd needs root here';
  return undefined;
}

const DOCKER: Requirement = { tests: 'docker runtime tests', ciProvides: '.ci/run installs docker.io and runs as root' };

/** The docker suites' mode: run, skip with a warning, or in CI fail (see suiteMode). */
export const dockerSuiteMode = (unavailable: string | undefined, env: NodeJS.ProcessEnv = process.env) => suiteMode(DOCKER, unavailable, env);

/** `describe` for tests needing a Docker engine: runs, skips with a warning, or in CI fails. */
export function describeWithDockerd(name: string, body: () => void): void {
  describeWhere(DOCKER, dockerdUnavailable(), name, body);
}

/**
 * A Docker engine of the test's own: its socket, data root and exec root in a temp dir,
 * vfs storage, no iptables and no bridge (nothing on this machine changes). Throws saying
 * why when it cannot run here.
 */
export async function startDockerd(): Promise<Dockerd> {
  const unavailable = dockerdUnavailable();
  if (unavailable !== undefined) throw new Error(unavailable);
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
      // A host-network container has the engine bind the host's netns at exec/netns/default, and it stays mounted after exit.
      const left = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((line) => line.split(' ')[1] ?? '').filter((mount) => mount.startsWith(`${dir}/`));
      for (const mount of left.reverse()) spawnSync('umount', ['-l', mount]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
