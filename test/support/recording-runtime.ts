import type { ContainerExit, ContainerRuntime, ContainerSpec, RunningContainer } from '../../src/adapters/containers/runtime';

/**
 * A runtime test double for tests about something else than running agents: it records
 * each start and stop, and reports a stop as a clean exit, as a real runtime would.
 */
export class RecordingRuntime implements ContainerRuntime {
  readonly kind = 'process' as const;
  readonly watchesAgents = true;
  readonly starts: ContainerSpec[] = [];
  readonly stops: string[] = [];
  private readonly running = new Map<string, ContainerSpec>();
  private readonly listeners: Array<(exit: ContainerExit) => void> = [];

  async start(spec: ContainerSpec): Promise<{ runtimeId: string }> {
    this.starts.push(spec);
    const runtimeId = `recorded-${this.starts.length}`;
    this.running.set(runtimeId, spec);
    return { runtimeId };
  }

  async stop(runtimeId: string): Promise<void> {
    this.stops.push(runtimeId);
    const spec = this.running.get(runtimeId);
    if (!spec) return;
    this.running.delete(runtimeId);
    for (const listener of this.listeners) listener({ runtimeId, sessionId: spec.sessionId, incarnationId: spec.incarnationId, exitCode: 0, signal: null, stderrTail: '' });
  }

  async list(installId: string): Promise<RunningContainer[]> {
    return [...this.running].filter(([, s]) => s.installId === installId).map(([runtimeId, s]) => ({ runtimeId, installId, sessionId: s.sessionId, incarnationId: s.incarnationId }));
  }

  onExit(listener: (exit: ContainerExit) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {}
}
