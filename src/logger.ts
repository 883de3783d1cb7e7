import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * The root logger: pino JSON on stderr, so a command's stdout stays clean for people and
 * for --json. Components take a child with a stable `component` field.
 */
export function createLogger(level: string = 'info'): Logger {
  return pino({ level, base: { app: 'switchyard' } }, pino.destination(2));
}
