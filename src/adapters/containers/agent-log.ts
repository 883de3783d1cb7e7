import { closeSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Past this size a session's log is rotated once (`.1`): what an operator reads is recent, the disk stays bounded. */
export const AGENT_LOG_MAX_BYTES = 5 * 1024 ** 2;

/** Where the host keeps a session's agent stderr: its own folder, never the session folder (the agent writes there). */
export const agentLogPath = (dataDir: string, sessionId: string) => join(dataDir, 'logs', `${sessionId}.log`);

/**
 * The stderr lines of a session's agents, appended to one file across incarnations, so
 * `sessions logs` shows what the runner said while it ran, not only the tail kept at its
 * exit. Written synchronously line by line: the lines arrive at the runner's pace.
 */
export class AgentLog {
  private fd: number | undefined;
  private size = 0;

  constructor(private readonly path: string) {}

  write(line: string): void {
    const bytes = Buffer.from(line + '\n');
    if (this.fd === undefined) this.open();
    if (this.size + bytes.length > AGENT_LOG_MAX_BYTES) this.rotate();
    this.size += writeSync(this.fd!, bytes);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = statSync(this.path).size;
  }

  private rotate(): void {
    this.close();
    renameSync(this.path, `${this.path}.1`);
    this.open();
  }
}

/** Splits a stream of text chunks into whole lines; the last partial line is kept until more comes or `end`. */
export function lineSplitter(onLine: (line: string) => void): { push(chunk: string): void; end(): void } {
  let partial = '';
  return {
    push(chunk) {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      lines.forEach(onLine);
    },
    end() {
      if (partial) onLine(partial);
      partial = '';
    },
  };
}
