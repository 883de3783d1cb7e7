import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { agentLogPath } from '../adapters/containers/agent-log';
import { ContainerStopped } from '../events/containers';
import { sessionStream } from '../events/inbound';
import { configFor, openExisting, wholeNumber } from './context';
import { found } from './dispatch';
import { dim } from './format';

/** How far back from the end a tail reads: enough for a few hundred runner lines. */
const TAIL_WINDOW_BYTES = 256 * 1024;
const FOLLOW_POLL_MS = 250;

/** The bytes of a file from `from` to its end. */
function readFrom(path: string, from: number): { text: string; end: number } {
  const end = statSync(path).size;
  if (end <= from) return { text: '', end };
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(end - from);
    readSync(fd, buffer, 0, buffer.length, from);
    return { text: buffer.toString('utf8'), end };
  } finally {
    closeSync(fd);
  }
}

/** The last `lines` lines of the file, read from its end only. */
function tail(path: string, lines: number): { text: string; end: number } {
  const size = statSync(path).size;
  const { text, end } = readFrom(path, Math.max(0, size - TAIL_WINDOW_BYTES));
  const whole = text.split('\n').filter(Boolean);
  return { text: whole.slice(-lines).map((line) => line + '\n').join(''), end };
}

/** Prints what is appended to the file until Ctrl-C, from `offset` on; a rotation starts it over. */
function follow(path: string, offset: number): Promise<void> {
  return new Promise((resolve) => {
    let at = offset;
    const timer = setInterval(() => {
      if (!existsSync(path)) return;
      if (statSync(path).size < at) at = 0;
      const { text, end } = readFrom(path, at);
      process.stdout.write(text);
      at = end;
    }, FOLLOW_POLL_MS);
    const stop = () => {
      clearInterval(timer);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** `sessions logs <id>`: what the session's agents wrote to stderr, as the host kept it. */
export function registerSessionLogs(sessions: Command): void {
  sessions
    .command('logs')
    .description("what the session's agents wrote to stderr (the runner's JSON lines), across incarnations")
    .argument('<id>', 'session id')
    .option('--lines <n>', 'how many of the last lines', wholeNumber(1), 50)
    .option('--follow', 'then keep printing new lines as the agent writes them (Ctrl-C to stop)')
    .action(async (id: string, options: { lines: number; follow?: boolean }, command: Command) => {
      const core = openExisting(command);
      let stoppedTails: string[];
      try {
        found(core.views.sessions.get(id), `session ${id}`);
        stoppedTails = [...core.store.readAll({ stream: sessionStream(id), type: ContainerStopped.type })].map((event) => ContainerStopped.schema.parse(event.data).stderrTail);
      } finally {
        core.close();
      }
      const path = agentLogPath(configFor(command).dataDir, id);
      if (!existsSync(path)) {
        // Agents run by someone else (external), or before the host kept log files: the tails recorded at each stop.
        const recorded = stoppedTails.filter(Boolean);
        console.log(dim(`no log file at ${path}${recorded.length ? '; the stderr tails recorded when its agents stopped:' : ', and no agent of it has stopped with stderr'}`));
        for (const stderr of recorded) console.log(stderr);
        if (options.follow) await follow(path, 0);
        return;
      }
      const { text, end } = tail(path, options.lines);
      process.stdout.write(text);
      if (options.follow) await follow(path, end);
    });
}
