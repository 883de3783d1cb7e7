import type { ContainerExit, ContainerRuntime, ContainerSpec, RunningContainer } from './runtime';

/**
 * For agents run by someone else against the session folders (a supervisor of their
 * own, or a test playing the agent): the host keeps the lifecycle in the log but starts
 * and stops nothing itself.
 */
export class ExternalRuntime implements ContainerRuntime {
  readonly kind = 'external' as const;

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
