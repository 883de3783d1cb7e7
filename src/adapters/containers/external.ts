import type { ContainerExit, ContainerRuntime, ContainerSpec, RunningContainer } from './runtime';

/**
 * For agents run by someone else against the session folders (a supervisor of their
 * own, or a test playing the agent): the host keeps the lifecycle in the log but starts
 * and stops nothing itself. A stop ends the incarnation in the log at once, and a host
 * restart keeps the log's incarnations: the runner may well be working on.
 */
export class ExternalRuntime implements ContainerRuntime {
  readonly kind = 'external' as const;
  readonly watchesAgents = false;

  async start(spec: ContainerSpec): Promise<{ runtimeId: string }> {
    return { runtimeId: `external-${spec.incarnationId}` };
  }

  async stop(): Promise<void> {}

  async list(): Promise<RunningContainer[]> {
    return [];
  }

  onExit(_listener: (exit: ContainerExit) => void): void {}

  async close(): Promise<void> {}
}
