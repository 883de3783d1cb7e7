import { spawn, type ChildProcess } from 'node:child_process';
import { access, stat } from 'node:fs/promises';
import { constants, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Logger } from '../../logger';
import { AgentLog, lineSplitter } from './agent-log';
import { commandCandidates, sessionEnv, type ContainerExit, type ContainerRuntime, type ContainerSpec, type RunningContainer } from './runtime';

/** Lines of stderr kept per agent: the tail a crash is recorded with. */
const STDERR_LINES = 20;

const isExecutableFile = async (path: string): Promise<boolean> => {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
};

export interface ProcessRuntimeOptions {
  /** The compiled agent runner (dist/docker/runner/main.js). */
  runnerPath: string;
  /** Where each child's pid file lives, so a host restarted after a crash finds the orphans. */
  stateDir: string;
  logger?: Logger;
}

interface Child {
  process: ChildProcess;
  spec: ContainerSpec;
  exited: Promise<void>;
}

interface PidFile {
  pid: number;
  installId: string;
  sessionId: string;
  incarnationId: string;
  runnerPath: string;
}

/**
 * Runs the agent runner as a child process of the host, with the same session folder
 * and environment contract as a container: for machines without Docker, and for the
 * embedded default. It has no isolation beyond the operating system user.
 */
export class ProcessRuntime implements ContainerRuntime {
  readonly kind = 'process' as const;
  readonly watchesAgents = true;
  private readonly children = new Map<string, Child>();
  private readonly listeners: Array<(exit: ContainerExit) => void> = [];

  constructor(private readonly options: ProcessRuntimeOptions) {
    mkdirSync(options.stateDir, { recursive: true });
  }

  /**
   * Ends runners a previous host left behind (it died without stopping them): nothing
   * would watch them, and the sessions are reconciled and woken again. Returns their pids.
   */
  reapOrphans(): number[] {
    const reaped: number[] = [];
    for (const name of readdirSync(this.options.stateDir).filter((file) => file.endsWith('.json'))) {
      const path = join(this.options.stateDir, name);
      const entry = JSON.parse(readFileSync(path, 'utf8')) as PidFile;
      if (!this.children.has(`process-${entry.pid}`) && isOurRunner(entry)) {
        process.kill(entry.pid, 'SIGKILL');
        reaped.push(entry.pid);
        this.options.logger?.warn({ event: 'OrphanReaped', pid: entry.pid, sessionId: entry.sessionId }, 'killed an agent runner left by a previous host');
      }
      if (!this.children.has(`process-${entry.pid}`)) rmSync(path, { force: true });
    }
    return reaped;
  }

  start(spec: ContainerSpec): Promise<{ runtimeId: string }> {
    const child = spawn(process.execPath, [this.options.runnerPath], {
      cwd: spec.sessionDir,
      // The agent gets its contract and nothing of the host's environment (no host secrets).
      env: { ...packagesEnv(spec.image), ...sessionEnv(spec.sessionDir), SWITCHYARD_AGENT_DIR: spec.groupDir, ...spec.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        child.off('error', reject);
        const runtimeId = `process-${child.pid}`;
        this.watch(runtimeId, child, spec);
        try {
          const entry: PidFile = { pid: child.pid!, installId: spec.installId, sessionId: spec.sessionId, incarnationId: spec.incarnationId, runnerPath: this.options.runnerPath };
          mkdirSync(this.options.stateDir, { recursive: true });
          writeFileSync(this.pidFile(spec), JSON.stringify(entry));
        } catch (error) {
          // A runner nobody could find after a host crash must not run at all.
          child.kill('SIGKILL');
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        resolve({ runtimeId });
      });
    });
  }

  /** On the PATH an agent of this "image" gets: the host's, after its group's approved npm programs. */
  async hasCommand(command: string, image: string): Promise<boolean> {
    for (const candidate of commandCandidates(command, packagesEnv(image).PATH!)) if (await isExecutableFile(candidate)) return true;
    return false;
  }

  async stop(runtimeId: string, graceMs = 10_000): Promise<void> {
    const child = this.children.get(runtimeId);
    if (!child) return;
    child.process.kill('SIGTERM');
    const timer = setTimeout(() => child.process.kill('SIGKILL'), graceMs);
    await child.exited;
    clearTimeout(timer);
  }

  async list(installId: string): Promise<RunningContainer[]> {
    return [...this.children.entries()]
      .filter(([, child]) => child.spec.installId === installId)
      .map(([runtimeId, { spec }]) => ({ runtimeId, installId, sessionId: spec.sessionId, incarnationId: spec.incarnationId }));
  }

  onExit(listener: (exit: ContainerExit) => void): void {
    this.listeners.push(listener);
  }

  /** Runners are this host's children and never outlive it: any still running (a session whose lease went elsewhere) is stopped. */
  async close(): Promise<void> {
    await Promise.all([...this.children.keys()].map((runtimeId) => this.stop(runtimeId)));
    this.listeners.length = 0;
  }

  private watch(runtimeId: string, child: ChildProcess, spec: ContainerSpec): void {
    const stderr: string[] = [];
    const log = new AgentLog(spec.logFile);
    const lines = lineSplitter((line) => {
      stderr.push(line);
      stderr.splice(0, Math.max(0, stderr.length - STDERR_LINES));
      log.write(line);
      this.options.logger?.debug({ sessionId: spec.sessionId, agent: line }, 'agent stderr');
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => lines.push(chunk));
    const exited = new Promise<void>((resolve) =>
      child.once('close', (exitCode, signal) => {
        this.children.delete(runtimeId);
        rmSync(this.pidFile(spec), { force: true });
        lines.end();
        log.close();
        const exit: ContainerExit = { runtimeId, sessionId: spec.sessionId, incarnationId: spec.incarnationId, exitCode, signal, stderrTail: stderr.slice(-STDERR_LINES).join('\n') };
        for (const listener of this.listeners) listener(exit);
        resolve();
      }),
    );
    this.children.set(runtimeId, { process: child, spec, exited });
  }

  private pidFile(spec: ContainerSpec): string {
    return join(this.options.stateDir, `${spec.incarnationId}.json`);
  }
}

/**
 * A docker image means nothing here; a folder is the group's approved npm packages (built by
 * package-prefix.ts): their programs on PATH, their modules where require() looks.
 */
function packagesEnv(image: string): Record<string, string> {
  const path = process.env.PATH ?? '/usr/bin:/bin';
  if (!isAbsolute(image)) return { PATH: path };
  const modules = join(image, 'node_modules');
  return { PATH: `${join(modules, '.bin')}:${path}`, NODE_PATH: modules };
}

/** Whether the pid still runs this runner: pids are reused, and a stranger must never be killed. */
function isOurRunner(entry: PidFile): boolean {
  try {
    return readFileSync(`/proc/${entry.pid}/cmdline`, 'utf8').split('\u0000').includes(entry.runnerPath);
  } catch {
    return false;
  }
}
