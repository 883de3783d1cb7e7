import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_LOG_MAX_BYTES, AgentLog, lineSplitter } from '../../../src/adapters/containers/agent-log';
import { useTempDir } from '../../support/temp';

describe("an agent's log file", () => {
  const tempDir = useTempDir();

  it('appends across incarnations, and rotates once past its size so the disk stays bounded', () => {
    const path = join(tempDir(), 'logs', 'sess-1.log');
    const first = new AgentLog(path);
    first.write('{"event":"RunnerStarted"}');
    first.close();
    const second = new AgentLog(path);
    second.write('{"event":"RunnerStarted","n":2}');
    expect(readFileSync(path, 'utf8')).toBe('{"event":"RunnerStarted"}\n{"event":"RunnerStarted","n":2}\n');
    const line = 'x'.repeat(1023);
    for (let i = 0; i < AGENT_LOG_MAX_BYTES / 1024 + 10; i++) second.write(line);
    second.close();
    expect(existsSync(`${path}.1`)).toBe(true);
    expect(statSync(path).size).toBeLessThan(AGENT_LOG_MAX_BYTES);
    expect(statSync(`${path}.1`).size).toBeLessThanOrEqual(AGENT_LOG_MAX_BYTES);
  });

  it('splits chunks into whole lines, keeping a partial one until the end', () => {
    const lines: string[] = [];
    const splitter = lineSplitter((line) => lines.push(line));
    splitter.push('one\ntw');
    splitter.push('o\nthr');
    expect(lines).toEqual(['one', 'two']);
    splitter.end();
    expect(lines).toEqual(['one', 'two', 'thr']);
  });
});
