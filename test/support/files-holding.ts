import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every file below `dir` (the event log, the SDK's state, host.json …) that holds the text: where a secret must never be. */
export function filesHolding(dir: string, text: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((path) => readFileSync(path).includes(text));
}
