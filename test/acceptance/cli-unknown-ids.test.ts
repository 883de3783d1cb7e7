import { join } from 'node:path';
import { openDataDir } from '../../src/core';
import { runCli } from '../support/cli';
import { seedScenario } from '../support/scenario';
import { useTempDir } from '../support/temp';

/** An operator's typo must never look like an empty answer (issue 15, defect 7). */
describe('unknown ids and moments outside the log (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  const cli = (...args: string[]) => runCli(['--data-dir', dataDir(), ...args]);
  let last: number;
  let revokedAt: number;

  beforeEach(() => {
    const core = openDataDir(dataDir());
    seedScenario(core);
    last = core.store.lastPosition();
    revokedAt = [...core.store.readAll({ type: 'DestinationRemoved' })][0]!.position;
    core.close();
  });

  it('given an agent group that does not exist, destinations list and audit --agent-group say so and exit 1', () => {
    expect(cli('destinations', 'list', 'ag-nope')).toMatchObject({ status: 1, stderr: expect.stringContaining('no agent group ag-nope') });
    expect(cli('audit', '--agent-group', 'ag-nope')).toMatchObject({ status: 1, stderr: expect.stringContaining('no agent group ag-nope') });
    expect(cli('destinations', 'list', 'ag-andy').status).toBe(0);
  });

  it('given a session that does not exist, sessions stop says there is no such session', () => {
    expect(cli('sessions', 'stop', 'sess-nope')).toMatchObject({ status: 1, stderr: expect.stringContaining('no session sess-nope') });
  });

  it('given a position past the end of the log, acl --at refuses naming the last position', () => {
    expect(cli('acl', 'ag-andy', '--at', '999999')).toMatchObject({ status: 1, stderr: expect.stringContaining(`the log ends at #${last}`) });
  });

  it('given a moment before the first event, acl --at says the log had not begun instead of an empty table', () => {
    const early = cli('acl', 'ag-andy', '--at', '2000-01-01');
    expect(early.status).toBe(0);
    expect(early.stdout).toMatch(/before the log's first event/);
  });

  it('names the moment it resolved, and --history shows revoked rows with who revoked them', () => {
    const now = cli('acl', 'ag-andy');
    expect(now.stdout).toContain(`as of #${last}`);
    expect(now.stdout).not.toContain('research-bot');
    const history = cli('acl', 'ag-andy', '--history');
    expect(history.stdout).toMatch(new RegExp(`research-bot\\s+agent\\s+ag-research\\s+#\\d+\\s+operator:alice\\s+\\S+\\s+#${revokedAt}\\s+operator:alice`));
    const before = JSON.parse(cli('acl', 'ag-andy', '--history', '--at', String(revokedAt - 1), '--json').stdout);
    expect(before.destinations.find((d: { local_name: string }) => d.local_name === 'research-bot')).toMatchObject({ revoked_at: null });
  });
});
