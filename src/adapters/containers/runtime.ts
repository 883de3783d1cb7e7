import type { RuntimeKind } from '../../events/containers';

/**
 * The one interface every container runtime (docker, process) implements. The host's
 * container reactor decides *when* to start and stop (from events); a runtime only
 * carries it out and reports what really happened.
 */

/** What one start of a session's agent needs: the spec's mounts, env and labels. */
export interface ContainerSpec {
  /** Identifies this host install: a sweep or reconciliation never touches another install's containers. */
  installId: string;
  sessionId: string;
  agentGroupId: string;
  /** Unique per start of the session: a stale report of an older start is recognisable. */
  incarnationId: string;
  /** The session folder on the host (seen as /workspace inside a container). */
  sessionDir: string;
  /** The agent group's folder on the host (seen as /workspace/agent inside a container). */
  groupDir: string;
  /** The install's folder every agent reads, <dataDir>/global (seen read-only as /workspace/global inside a container). */
  globalDir: string;
  /** Where the agent's stderr lines are appended (host-owned, outside the session folder). */
  logFile: string;
  /** Image to run (docker); the process runtime ignores it. */
  image: string;
  /** The docker network the agent group chose (absent: none); the process runtime ignores it, its agents share the host's. */
  network?: string;
  /**
   * Extra environment: NANOCLAW_ASSISTANT_NAME, NANOCLAW_AGENT_GROUP_NAME, the provider
   * choice… The runtime adds SESSION_INBOUND_DB_PATH, SESSION_OUTBOUND_DB_PATH and
   * SESSION_HEARTBEAT_PATH itself, pointing at the paths the agent sees.
   */
  env: Record<string, string>;
}

/** A container (or child process) the runtime started and can still see. */
export interface RunningContainer {
  runtimeId: string;
  installId: string;
  sessionId: string;
  incarnationId: string;
}

/** How a started container ended, as the runtime observed it. */
export interface ContainerExit {
  runtimeId: string;
  sessionId: string;
  incarnationId: string;
  exitCode: number | null;
  signal: string | null;
  /** The last lines the agent wrote to stderr (at most ~20 lines / 4 KiB). */
  stderrTail: string;
}

export interface ContainerRuntime {
  readonly kind: RuntimeKind;
  /**
   * Whether the host sees its agents end. False when someone else runs them (external):
   * no exit is ever reported, so a stop has nothing to wait for, and at start-up nothing
   * says the log's containers are gone.
   */
  readonly watchesAgents: boolean;
  /** Starts the agent for one session; resolves once the engine reports it started. */
  start(spec: ContainerSpec): Promise<{ runtimeId: string }>;
  /** Asks it to stop (SIGTERM, then SIGKILL after graceMs); resolves when it has exited. */
  stop(runtimeId: string, graceMs?: number): Promise<void>;
  /** The containers of this install that are running now (reconciliation at start-up). */
  list(installId: string): Promise<RunningContainer[]>;
  /**
   * Watches a container found by list() at start-up (started by an earlier host), so its
   * exit is reported like any other. A runtime whose containers cannot outlive the host
   * has nothing to adopt.
   */
  adopt?(container: RunningContainer): void;
  /** Called once for every exit of a container started by this runtime, including one killed from outside. */
  onExit(listener: (exit: ContainerExit) => void): void;
  /** Releases the runtime's own resources; containers are left to be reconciled. */
  close(): Promise<void>;
  /**
   * Whether a program the agent would start (an MCP server's command) exists where this
   * runtime runs agents of this image: at its path, or in a folder of the agent's PATH.
   * Absent: the runtime cannot tell (someone else runs the agents).
   */
  hasCommand?(command: string, image: string): Promise<boolean>;
}

/** Where a command is looked for, as execvp does: itself when it names a path, else in each folder of PATH. */
export function commandCandidates(command: string, path: string): string[] {
  if (command.includes('/')) return [command];
  return path
    .split(':')
    .filter((dir) => dir !== '')
    .map((dir) => `${dir.replace(/\/+$/, '')}/${command}`);
}

/** The environment contract of §2 of the spec, as the agent sees its folder. */
export function sessionEnv(workspace: string): Record<string, string> {
  return {
    SESSION_INBOUND_DB_PATH: `${workspace}/inbound.db`,
    SESSION_OUTBOUND_DB_PATH: `${workspace}/outbound.db`,
    SESSION_HEARTBEAT_PATH: `${workspace}/.heartbeat`,
  };
}
