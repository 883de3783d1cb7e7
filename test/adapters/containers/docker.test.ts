import { join } from 'node:path';
import { TerminalChannel } from '../../../src/adapters/channels/terminal';
import { dockerBinds, DockerRuntime } from '../../../src/adapters/containers/docker';
import { buildAgentImage } from '../../../src/adapters/containers/image';
import type { ContainerExit } from '../../../src/adapters/containers/runtime';
import { CreateAgentGroup, UpdateAgentGroup } from '../../../src/commands/agent-groups';
import { RegisterMessagingGroup, WireChannel } from '../../../src/commands/messaging-groups';
import { loadConfig } from '../../../src/config';
import { packageRoot } from '../../../src/db/package-root';
import { Host } from '../../../src/host';
import { createLogger } from '../../../src/logger';
import { describeWithDockerd, dockerSuiteMode, startDockerd, type Dockerd } from '../../support/dockerd';
import { useTempDir } from '../../support/temp';
import { waitForEvents, waitUntil } from '../../support/wait';

const IMAGE = 'switchyard-agent:test';
describe('docker suite without an engine', () => {
  it('fails in CI saying why, and skips with a warning elsewhere', () => {
    expect(dockerSuiteMode('dockerd is not installed', { CI: 'true' })).toEqual({ fail: expect.stringMatching(/cannot run in CI \(CI=true\): dockerd is not installed/) });
    expect(dockerSuiteMode('dockerd is not installed', { CI: '1' })).toEqual({ fail: expect.any(String) });
    expect(dockerSuiteMode('dockerd is not installed', {})).toEqual({ skip: expect.stringMatching(/SKIPPED: dockerd is not installed/) });
    expect(dockerSuiteMode('dockerd is not installed', { CI: 'false' })).toEqual({ skip: expect.any(String) });
    expect(dockerSuiteMode(undefined, { CI: 'true' })).toEqual({ run: true });
  });
});

describe('docker mounts', () => {
  it('gives a container the layout the reference image expects: session at /workspace, group at /workspace/agent, global read-only', () => {
    expect(dockerBinds({ sessionDir: '/data/sessions/ag-1/sess-1', groupDir: '/data/groups/andy', globalDir: '/data/global' })).toEqual([
      '/data/sessions/ag-1/sess-1:/workspace',
      '/data/groups/andy:/workspace/agent',
      '/data/global:/workspace/global:ro',
    ]);
  });
});

/** The docker runtime against a real engine of the test's own, with the image built from local files. */
describeWithDockerd('docker runtime (real Docker engine)', () => {
  const tempDir = useTempDir();
  let engine: Dockerd;

  beforeAll(async () => {
    engine = await startDockerd();
    await buildAgentImage(engine.docker, { tag: IMAGE, repoRoot: packageRoot(__dirname) });
  }, 180_000);
  afterAll(async () => {
    await engine?.stop();
  });

  it('does not rebuild an image whose content has not changed', async () => {
    expect(await buildAgentImage(engine.docker, { tag: IMAGE, repoRoot: packageRoot(__dirname) })).toBe(false);
  });

  it('finds a command in the image by its PATH or its path, without running anything, and says when it is not there', async () => {
    const runtime = new DockerRuntime(engine.docker);
    const before = (await engine.docker.listContainers({ all: true })).length;
    expect(await runtime.hasCommand('node', IMAGE)).toBe(true);
    expect(await runtime.hasCommand('/usr/bin/node', IMAGE)).toBe(true);
    // FROM scratch: only node. An approved `npx` server would never start there.
    expect(await runtime.hasCommand('npx', IMAGE)).toBe(false);
    expect(await runtime.hasCommand('/usr/bin', IMAGE)).toBe(false);
    // The runner starts MCP servers with the SDK the image carries.
    expect(await runtime.hasCommand('/opt/switchyard/node_modules/@modelcontextprotocol/sdk/package.json', IMAGE)).toBe(true);
    expect(await engine.docker.listContainers({ all: true })).toHaveLength(before);
  });

  it('answers a message with the echo runner inside a labelled container on no network; a kill from outside is recorded and the next message wakes a new incarnation, on the network the group names since', async () => {
    const answers: string[] = [];
    const terminal = new TerminalChannel({ platformId: 'terminal', show: (_chat, text) => answers.push(text) });
    const runtime = new DockerRuntime(engine.docker);
    const config = loadConfig({ dataDir: join(tempDir(), 'data') }, { SWITCHYARD_POLL_INTERVAL_MS: '20', SWITCHYARD_AGENT_IMAGE: IMAGE, SWITCHYARD_RUNNER_POLL_MS: '50' });
    const host = await Host.start(config, { channels: [terminal], logger: createLogger('silent'), runtime });
    try {
      host.core.bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
      // The group's own image, not the host's default: the same image under another name.
      await engine.docker.getImage(IMAGE).tag({ repo: 'andy-agent', tag: 'v1' });
      host.core.bus.dispatch(UpdateAgentGroup.envelope('image', { agentGroupId: 'ag-andy', image: 'andy-agent:v1' }));
      host.core.bus.dispatch(RegisterMessagingGroup.envelope('mg', { messagingGroupId: 'mg-terminal', channelType: 'cli', platformId: 'terminal' }));
      host.core.bus.dispatch(WireChannel.envelope('wire', { messagingGroupId: 'mg-terminal', agentGroupId: 'ag-andy' }));

      await terminal.say('hello from the host');
      await waitUntil(() => answers.length === 1, 'the answer from inside the container', 60_000);
      expect(answers).toEqual(['echo: hello from the host']);

      const [started] = await waitForEvents(host.core.store, (e) => e.type === 'ContainerStarted');
      const { sessionId, incarnationId, runtimeId } = started!.data as { sessionId: string; incarnationId: string; runtimeId: string };
      const inspected = await engine.docker.getContainer(runtimeId).inspect();
      expect(inspected.Config.Labels).toEqual(
        expect.objectContaining({ 'switchyard.session': sessionId, 'switchyard.incarnation': incarnationId, 'switchyard.agent-group': 'ag-andy', 'switchyard.install': expect.any(String) }),
      );
      expect(inspected.HostConfig.NetworkMode).toBe('none');
      expect(inspected.Config.Image).toBe('andy-agent:v1');
      expect(inspected.HostConfig.Binds).toEqual(expect.arrayContaining([expect.stringMatching(/\/global:\/workspace\/global:ro$/)]));
      const installId = inspected.Config.Labels['switchyard.install']!;
      expect((await runtime.list(installId)).map((c) => c.incarnationId)).toEqual([incarnationId]);
      expect(await runtime.list('another-install')).toEqual([]);

      await engine.docker.getContainer(runtimeId).kill();
      const [stopped] = await waitForEvents(host.core.store, (e) => e.type === 'ContainerStopped');
      expect(stopped!.data).toEqual(expect.objectContaining({ incarnationId, reason: 'crashed', exitCode: 137, signal: 'SIGKILL', stderrTail: expect.stringContaining('RunnerStarted') }));
      expect(await runtime.list(installId)).toEqual([]);

      // The group's network applies from the next start (the engine has no bridge: host proves the setting reached it).
      host.core.bus.dispatch(UpdateAgentGroup.envelope('network', { agentGroupId: 'ag-andy', network: 'host' }));
      await terminal.say('are you back?');
      await waitUntil(() => answers.length === 2, 'the answer of the new incarnation', 60_000);
      expect(answers[1]).toBe('echo: are you back?');
      const [, restarted] = await waitForEvents(host.core.store, (e) => e.type === 'ContainerStarted', 2);
      expect((await engine.docker.getContainer((restarted!.data as { runtimeId: string }).runtimeId).inspect()).HostConfig.NetworkMode).toBe('host');
      const container = host.core.views.containers.get(sessionId)!;
      expect(container.incarnation_id).not.toBe(incarnationId);
      expect(container.starts).toBe(2);
    } finally {
      await host.stop();
    }
    // A container is left running at host shutdown, to be adopted by the next host.
    expect((await engine.docker.listContainers({ filters: { label: ['switchyard.session'] } })).length).toBe(1);
  }, 120_000);

  it('reports a stop with the exit code, and adopts a container started by an earlier host', async () => {
    const exits: ContainerExit[] = [];
    const running = await engine.docker.listContainers({ filters: { label: ['switchyard.session'] } });
    const adopter = new DockerRuntime(engine.docker);
    adopter.onExit((exit) => exits.push(exit));
    for (const c of running) adopter.adopt({ runtimeId: c.Id, installId: c.Labels['switchyard.install']!, sessionId: c.Labels['switchyard.session']!, incarnationId: c.Labels['switchyard.incarnation']! });
    await Promise.all(running.map((c) => adopter.stop(c.Id, 5000)));
    expect(exits).toEqual(running.map((c) => expect.objectContaining({ runtimeId: c.Id, exitCode: 0, signal: null })));
    expect(await engine.docker.listContainers({ all: true, filters: { label: ['switchyard.session'] } })).toEqual([]);
  }, 60_000);
});
