/** One JSON line per event on stderr: the host keeps the tail of it when the agent stops. */
export const log = (event: string, fields: Record<string, unknown> = {}) => process.stderr.write(JSON.stringify({ time: new Date().toISOString(), event, ...fields }) + '\n');

export const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));
