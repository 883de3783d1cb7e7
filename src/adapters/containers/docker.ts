import { mkdirSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import type Dockerode from 'dockerode';
import type { Logger } from '../../logger';
import { AgentLog, lineSplitter } from './agent-log';
import { commandCandidates, sessionEnv, type ContainerExit, type ContainerRuntime, type ContainerSpec, type RunningContainer } from './runtime';

const LABEL = {
  install: 'switchyard.install',
  session: 'switchyard.session',
  agentGroup: 'switchyard.agent-group',
  incarnation: 'switchyard.incarnation',
} as const;

/** Exit codes 128 + n mean the process died of signal n; the ones a stop or kill produces. */
const SIGNALS: Record<number, string> = { 137: 'SIGKILL', 143: 'SIGTERM', 130: 'SIGINT' };
const STDERR_LINES = 20;
/** Docker's PATH for an image that sets none. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The directory bit of the Go file mode the engine reports in a path's stat. */
const MODE_DIR = 0x80000000;

/**
 * Docker frames multiplexed logs as [stream, 0, 0, 0, size (4 bytes BE)] + payload; only
 * stderr's frames (stream 2) are kept.
 */
function stderrOf(frames: Buffer): string {
  const parts: Buffer[] = [];
  for (let offset = 0; offset + 8 <= frames.length; ) {
    const size = frames.readUInt32BE(offset + 4);
    if (frames[offset] === 2) parts.push(frames.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

export interface DockerRuntimeOptions {
  logger?: Logger;
}

/**
 * The folders a container sees, as the reference's agent image expects them: the session
 * at /workspace, the agent group's folder at /workspace/agent, and the install's shared
 * folder at /workspace/global, read-only (no agent changes what every agent reads).
 */
export function dockerBinds(spec: Pick<ContainerSpec, 'sessionDir' | 'groupDir' | 'globalDir'>): string[] {
  return [`${spec.sessionDir}:/workspace`, `${spec.groupDir}:/workspace/agent`, `${spec.globalDir}:/workspace/global:ro`];
}

/**
 * Runs each session's agent in a container of the Docker Engine (dockerode): the folders
 * of dockerBinds, no network unless the agent group names one, the host's uid so the files it writes stay the host's, and
 * labels naming the install, session and incarnation, so nothing here ever touches another
 * install's containers.
 */
export class DockerRuntime implements ContainerRuntime {
  readonly kind = 'docker' as const;
  readonly watchesAgents = true;
  private readonly listeners: Array<(exit: ContainerExit) => void> = [];
  private readonly watched = new Map<string, Promise<void>>();
  private closed = false;

  constructor(
    /** Public so the host's image builder talks to the same engine. */
    readonly docker: Dockerode,
    private readonly options: DockerRuntimeOptions = {},
  ) {}

  async start(spec: ContainerSpec): Promise<{ runtimeId: string }> {
    // Docker would make a missing bind source itself, owned by root.
    for (const dir of [spec.groupDir, spec.globalDir]) mkdirSync(dir, { recursive: true });
    const env = { ...sessionEnv('/workspace'), ...spec.env };
    const container = await this.docker.createContainer({
      name: `switchyard-${spec.sessionId}-${spec.incarnationId}`,
      Image: spec.image,
      Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
      Labels: { [LABEL.install]: spec.installId, [LABEL.session]: spec.sessionId, [LABEL.agentGroup]: spec.agentGroupId, [LABEL.incarnation]: spec.incarnationId },
      User: `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`,
      HostConfig: {
        Binds: dockerBinds(spec),
        // No network unless the agent group chose one (an agent calling a model API needs it).
        NetworkMode: spec.network ?? 'none',
        AutoRemove: false,
      },
    });
    // Watched before it starts (for its next exit: it has not run yet), so even an instant exit is seen.
    this.watch({ runtimeId: container.id, installId: spec.installId, sessionId: spec.sessionId, incarnationId: spec.incarnationId }, 'next-exit');
    try {
      await container.start();
    } catch (error) {
      await container.remove({ force: true }).catch(() => undefined);
      throw error;
    }
    this.followStderr(container.id, spec.logFile);
    return { runtimeId: container.id };
  }

  /**
   * Copies the agent's stderr into the session's log file while it runs (from its start: a
   * followed log begins at the first line). A container adopted from an earlier host is
   * not followed; `docker logs` still has it.
   */
  private followStderr(runtimeId: string, logFile: string): void {
    const log = new AgentLog(logFile);
    const lines = lineSplitter((line) => log.write(line));
    const ended = () => {
      lines.end();
      log.close();
    };
    this.docker
      .getContainer(runtimeId)
      .logs({ follow: true, stdout: false, stderr: true })
      .then((stream) => {
        const stderr = new Writable({
          write(chunk: Buffer, _encoding, done) {
            lines.push(chunk.toString('utf8'));
            done();
          },
        });
        this.docker.modem.demuxStream(stream, new PassThrough(), stderr);
        stream.once('end', ended);
        stream.once('error', ended);
      })
      .catch((error: unknown) => {
        ended();
        this.options.logger?.warn({ err: error, event: 'AgentLogNotFollowed', runtimeId }, "could not follow the agent's stderr");
      });
  }

  /**
   * Looks in the image's files (by the PATH its config sets) through a container created
   * from it and never started: nothing of the image runs.
   */
  async hasCommand(command: string, image: string): Promise<boolean> {
    const info = await this.docker.getImage(image).inspect();
    const path = info.Config?.Env?.find((entry) => entry.startsWith('PATH='))?.slice('PATH='.length) ?? DEFAULT_PATH;
    const container = await this.docker.createContainer({ Image: image, Cmd: ['probe'], Labels: { 'switchyard.probe': 'command' }, HostConfig: { NetworkMode: 'none' } });
    try {
      for (const candidate of commandCandidates(command, path)) {
        const found = await container.infoArchive({ path: candidate }).then(
          (response: { headers?: Record<string, string>; resume?: () => void }) => {
            response.resume?.();
            const stat = response.headers?.['x-docker-container-path-stat'];
            const mode = stat ? (JSON.parse(Buffer.from(stat, 'base64').toString('utf8')) as { mode: number }).mode : 0;
            return (mode & MODE_DIR) === 0;
          },
          (error: { statusCode?: number }) => {
            if (error.statusCode === 404) return false;
            throw error;
          },
        );
        if (found) return true;
      }
      return false;
    } finally {
      await container.remove({ force: true }).catch(() => undefined);
    }
  }

  async stop(runtimeId: string, graceMs = 10_000): Promise<void> {
    await this.docker
      .getContainer(runtimeId)
      .stop({ t: Math.ceil(graceMs / 1000) })
      .catch((error: { statusCode?: number }) => {
        // 304: already stopped; 404: already gone. Either way it is not running.
        if (error.statusCode !== 304 && error.statusCode !== 404) throw error;
      });
    await this.watched.get(runtimeId);
  }

  async list(installId: string): Promise<RunningContainer[]> {
    const containers = await this.docker.listContainers({ filters: { label: [`${LABEL.install}=${installId}`], status: ['running'] } });
    return containers.map((c) => ({ runtimeId: c.Id, installId, sessionId: c.Labels[LABEL.session]!, incarnationId: c.Labels[LABEL.incarnation]! }));
  }

  adopt(container: RunningContainer): void {
    this.watch(container, 'not-running');
  }

  onExit(listener: (exit: ContainerExit) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    // The containers go on running; the next host adopts them at start-up.
    this.closed = true;
  }

  private watch(container: RunningContainer, condition: 'next-exit' | 'not-running'): void {
    if (this.watched.has(container.runtimeId)) return;
    const handle = this.docker.getContainer(container.runtimeId);
    const done = handle
      .wait({ condition })
      .then(async () => {
        if (this.closed) return;
        const state = (await handle.inspect()).State;
        const logs = (await handle.logs({ stdout: false, stderr: true, tail: STDERR_LINES, follow: false })) as unknown as Buffer;
        const exitCode = state.ExitCode;
        const signal = state.OOMKilled ? 'SIGKILL' : (SIGNALS[exitCode] ?? null);
        const exit: ContainerExit = { ...container, exitCode, signal, stderrTail: stderrOf(logs).trimEnd() };
        for (const listener of this.listeners) listener(exit);
        await handle.remove({ force: true }).catch(() => undefined);
      })
      .catch((error: unknown) => this.options.logger?.error({ err: error, runtimeId: container.runtimeId }, 'watching a container failed'))
      .finally(() => this.watched.delete(container.runtimeId));
    this.watched.set(container.runtimeId, done);
  }
}
