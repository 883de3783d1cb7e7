import { join } from 'node:path';
import { CreateAgentGroup, UpdateAgentGroup } from '../../src/commands/agent-groups';
import { openDataDir } from '../../src/core';
import { ContainerConfig } from '../../src/events/primitives';
import { runCli } from '../support/cli';
import { useTempDir } from '../support/temp';

const SECRET = 'ghp-very-secret-token-91';

describe('switchyard CLI (built): approved MCP servers', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  const cli = (...args: string[]) => runCli(['--data-dir', dataDir(), ...args]);

  it('groups show and list name each server with its command and args, and mask its env values (text and --json); status shows none of them', () => {
    const core = openDataDir(dataDir());
    try {
      core.bus.dispatch(CreateAgentGroup.envelope('create', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
      const containerConfig = ContainerConfig.parse({ mcpServers: { github: { command: 'github-mcp', args: ['--stdio'], env: { GITHUB_TOKEN: SECRET } } } });
      expect(core.bus.dispatch(UpdateAgentGroup.envelope('mcp', { agentGroupId: 'ag-andy', containerConfig })).status).toBe('accepted');
    } finally {
      core.close();
    }
    const text = cli('groups', 'show', 'ag-andy');
    expect(text.status).toBe(0);
    expect(text.stdout).toContain('MCP servers: github (github-mcp --stdio; env GITHUB_TOKEN=***)');
    const json = JSON.parse(cli('groups', 'show', 'ag-andy', '--json').stdout) as { group: { containerConfig: { mcpServers: unknown } } };
    expect(json.group.containerConfig.mcpServers).toEqual({ github: { command: 'github-mcp', args: ['--stdio'], env: { GITHUB_TOKEN: '***' } } });
    for (const args of [['groups', 'show', 'ag-andy'], ['groups', 'show', 'ag-andy', '--json'], ['groups', 'list', '--json'], ['groups', 'list'], ['status'], ['status', '--json']]) {
      expect(cli(...args).stdout).not.toContain(SECRET);
    }
  });

  it('groups show says when a group has no MCP servers', () => {
    expect(cli('groups', 'create', '--id', 'ag-andy', '--name', 'Andy', '--folder', 'andy').status).toBe(0);
    expect(cli('groups', 'show', 'ag-andy').stdout).toContain('MCP servers: none');
  });
});
