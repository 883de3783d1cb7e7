import { join } from 'node:path';
import { openDataDir } from '../../src/core';
import { runCli } from '../support/cli';
import { seedScenario } from '../support/scenario';
import { useTempDir } from '../support/temp';

describe('switchyard groups, channels, wirings, destinations and sessions (built CLI)', () => {
  const tempDir = useTempDir();
  const cli = (...args: string[]) => runCli(['--data-dir', join(tempDir(), 'data'), ...args], { SWITCHYARD_OPERATOR: 'alice' });
  const json = (...args: string[]) => JSON.parse(cli(...args, '--json').stdout);

  it('wires an agent to a chat from the terminal, with the destination it grants, and revokes one', () => {
    expect(cli('groups', 'create', '--name', 'Andy', '--folder', 'andy', '--id', 'ag-andy').stdout).toMatch(/^created agent group ag-andy\s+AgentGroupCreated@1/);
    expect(cli('groups', 'create', '--name', 'Research', '--folder', 'research', '--id', 'ag-research').status).toBe(0);
    expect(cli('channels', 'register', '--channel-type', 'telegram', '--platform-id', '-1001', '--name', 'Family', '--group', '--id', 'mg-family').status).toBe(0);
    expect(cli('wirings', 'add', '--chat', 'mg-family', '--agent-group', 'ag-andy', '--pattern', '^@andy', '--requires-trigger', '--priority', '5').stdout).toContain(
      'wired mg-family → ag-andy; granted destination "family"',
    );
    expect(cli('destinations', 'add', 'ag-andy', 'Research Bot', '--agent', 'ag-research').stdout).toContain('granted ag-andy destination "research-bot"');
    expect(json('destinations', 'list', 'ag-andy').map((d: { local_name: string; granted_by: string }) => [d.local_name, d.granted_by])).toEqual([
      ['family', 'operator:alice'],
      ['research-bot', 'operator:alice'],
    ]);
    expect(json('wirings', 'list', '--chat', 'mg-family')).toMatchObject([{ agentGroupId: 'ag-andy', priority: 5, triggerRules: { pattern: '^@andy', requiresTrigger: true } }]);
    expect(json('groups', 'show', 'ag-andy')).toMatchObject({ group: { id: 'ag-andy', folder: 'andy' }, wirings: [{ messagingGroupId: 'mg-family' }] });
    expect(json('channels', 'list')).toMatchObject([{ id: 'mg-family', channel_type: 'telegram', is_group: 1 }]);
    expect(cli('destinations', 'remove', 'ag-andy', 'research-bot').status).toBe(0);
    expect(cli('destinations', 'list', 'ag-andy').stdout).not.toContain('research-bot');
    expect(cli('groups', 'remove', 'ag-andy')).toMatchObject({ status: 1, stderr: expect.stringContaining('(still-wired)') });
    expect(cli('wirings', 'remove', '--chat', 'mg-family', '--agent-group', 'ag-andy').status).toBe(0);
    expect(cli('groups', 'remove', 'ag-andy').status).toBe(0);
  });

  it('names the bad flag, refuses what the rules refuse, and lists sessions', () => {
    expect(cli('groups', 'create', '--name', 'Evil', '--folder', '../x')).toMatchObject({ status: 2, stderr: expect.stringContaining('--folder: expected a folder name') });
    expect(cli('groups', 'create', '--name', 'Andy', '--folder', 'andy').status).toBe(0);
    expect(cli('groups', 'create', '--name', 'Again', '--folder', 'andy')).toMatchObject({ status: 1, stderr: expect.stringContaining('(folder-taken)') });
    expect(cli('wirings', 'add', '--chat', 'mg-x', '--agent-group', 'ag-x', '--session-mode', 'per-user')).toMatchObject({ status: 2, stderr: expect.stringContaining('Allowed choices are shared, per-thread, agent-shared') });
    expect(cli('channels', 'register', '--channel-type', 'telegram', '--platform-id', '1', '--id', 'mg-1').status).toBe(0);
    expect(cli('wirings', 'add', '--chat', 'mg-1', '--agent-group', 'ag-nobody')).toMatchObject({ status: 1, stderr: expect.stringContaining('(unknown-agent-group)') });
    expect(cli('wirings', 'add', '--chat', 'mg-1', '--agent-group', 'ag-nobody', '--pattern', '(')).toMatchObject({ status: 2, stderr: expect.stringContaining('--pattern') });
    expect(cli('destinations', 'add', 'ag-x', 'home')).toMatchObject({ status: 2, stderr: expect.stringContaining('exactly one target') });
    // A backreference is valid JavaScript but not RE2: refused as bad usage, naming the flag and why.
    expect(cli('groups', 'create', '--name', 'Bob', '--folder', 'bob', '--id', 'ag-bob').status).toBe(0);
    const refused = cli('wirings', 'add', '--chat', 'mg-1', '--agent-group', 'ag-bob', '--pattern', '(a)\\1', '--requires-trigger');
    expect(refused).toMatchObject({ status: 2, stderr: expect.stringMatching(/--pattern: expected a valid regular expression: invalid escape sequence.*no backreferences or lookaround/) });
    expect(json('wirings', 'list', '--chat', 'mg-1')).toEqual([]);

    const core = openDataDir(join(tempDir(), 'scenario'));
    seedScenario(core);
    core.close();
    const sessions = JSON.parse(runCli(['--data-dir', join(tempDir(), 'scenario'), 'sessions', 'list', '--agent-group', 'ag-admin', '--json']).stdout);
    expect(sessions.map((s: { thread_id: string; session_mode: string }) => [s.session_mode, s.thread_id])).toEqual([['per-thread', 't-1'], ['per-thread', 't-2']]);
    const shown = runCli(['--data-dir', join(tempDir(), 'scenario'), 'sessions', 'show', sessions[0].id]);
    expect(shown.stdout).toMatch(new RegExp(`${sessions[0].id}\\s+ag-admin\\s+mg-ops\\s+t-1\\s+per-thread\\s+active`));
  });
});
