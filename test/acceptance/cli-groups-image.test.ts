import { join } from 'node:path';
import { runCli } from '../support/cli';
import { useTempDir } from '../support/temp';

describe('switchyard CLI (built): the agent image and network per group', () => {
  const tempDir = useTempDir();
  const cli = (...args: string[]) => runCli(['--data-dir', join(tempDir(), 'data'), ...args]);
  const shown = () => JSON.parse(cli('groups', 'show', 'ag-andy', '--json').stdout) as { group: { containerConfig: { imageTag?: string; network?: string; packages: unknown } } };

  it('groups update --image sets the image groups show reports, --image default clears it, a bad reference exits 2 naming --image; --max-hops/--max-rate default clear the limits', () => {
    expect(cli('groups', 'create', '--id', 'ag-andy', '--name', 'Andy', '--folder', 'andy').status).toBe(0);
    expect(cli('groups', 'show', 'ag-andy').stdout).toContain("Image: the host's default (SWITCHYARD_AGENT_IMAGE)");

    const set = cli('groups', 'update', 'ag-andy', '--image', 'ghcr.io/acme/nanoclaw-agent:v2');
    expect(set.stderr).toBe('');
    expect(set.status).toBe(0);
    expect(cli('groups', 'show', 'ag-andy').stdout).toContain('Image: ghcr.io/acme/nanoclaw-agent:v2');
    expect(shown().group.containerConfig).toEqual(expect.objectContaining({ imageTag: 'ghcr.io/acme/nanoclaw-agent:v2', packages: { apt: [], npm: [] } }));

    const bad = cli('groups', 'update', 'ag-andy', '--image', 'Acme/Agent:latest');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--image: expected a docker image reference/);
    expect(shown().group.containerConfig.imageTag).toBe('ghcr.io/acme/nanoclaw-agent:v2');

    expect(cli('groups', 'update', 'ag-andy', '--image', 'default').status).toBe(0);
    expect(shown().group.containerConfig).not.toHaveProperty('imageTag');
    expect(cli('groups', 'show', 'ag-andy').stdout).toContain("Image: the host's default");

    // `default` clears the loop limits the same way (it used to reach the command as '' and exit 2).
    expect(cli('groups', 'update', 'ag-andy', '--max-hops', '4').status).toBe(0);
    const cleared = cli('groups', 'update', 'ag-andy', '--max-hops', 'default', '--max-rate', 'default');
    expect(cleared.stderr).toBe('');
    expect(cleared.status).toBe(0);

    const events = cli('events', '--jsonl', '--type', 'AgentGroupUpdated').stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line));
    expect(events.map((e) => e.data.containerConfig?.imageTag ?? null)).toEqual(['ghcr.io/acme/nanoclaw-agent:v2', null, null, null]);
    expect(events[3].data).toEqual({ agentGroupId: 'ag-andy', maxHops: null, outboundPerMinute: null });
  });
  it('groups update --network sets the network groups show reports (docker only), keeps the image, --network default returns to none, a bad name exits 2 naming --network', () => {
    expect(cli('groups', 'create', '--id', 'ag-andy', '--name', 'Andy', '--folder', 'andy').status).toBe(0);
    expect(cli('groups', 'show', 'ag-andy').stdout).toContain('Network: none (the default) (docker runtime only: the process runtime ignores it');
    expect(cli('groups', 'update', 'ag-andy', '--image', 'agent:1').status).toBe(0);

    const set = cli('groups', 'update', 'ag-andy', '--network', 'bridge');
    expect(set.stderr).toBe('');
    expect(set.status).toBe(0);
    expect(cli('groups', 'show', 'ag-andy').stdout).toMatch(/Image: agent:1\nNetwork: bridge \(docker runtime only/);
    expect(shown().group.containerConfig).toEqual(expect.objectContaining({ imageTag: 'agent:1', network: 'bridge' }));

    for (const bad of ['container:other', 'my net', '-x']) {
      const refused = cli('groups', 'update', 'ag-andy', '--network', bad);
      expect(refused.status).toBe(2);
      expect(refused.stderr).toMatch(/--network: expected a docker network/);
    }
    expect(shown().group.containerConfig.network).toBe('bridge');

    expect(cli('groups', 'update', 'ag-andy', '--network', 'default').status).toBe(0);
    expect(shown().group.containerConfig).not.toHaveProperty('network');
    expect(shown().group.containerConfig.imageTag).toBe('agent:1');
    expect(cli('groups', 'show', 'ag-andy').stdout).toContain('Network: none (the default)');

    const events = cli('events', '--jsonl', '--type', 'AgentGroupUpdated').stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line));
    expect(events.map((e) => e.data.containerConfig?.network ?? null)).toEqual([null, 'bridge', null]);
    expect(events.map((e) => e.metadata.actor)).toEqual(Array(3).fill(expect.stringMatching(/^operator:/)));
  });
});
