import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import Database from 'better-sqlite3';
import { WebhookChannel } from '../../../src/adapters/channels/webhook';
import { DockerRuntime } from '../../../src/adapters/containers/docker';
import { buildGroupImage, groupImageTag } from '../../../src/adapters/containers/group-image';
import { buildAgentImage } from '../../../src/adapters/containers/image';
import { sessionDir } from '../../../src/adapters/session-db';
import { loadConfig } from '../../../src/config';
import { packageRoot } from '../../../src/db/package-root';
import type { RecordedEvent } from '../../../src/events/define';
import { Host } from '../../../src/host';
import { createLogger } from '../../../src/logger';
import { seedApprovalScene } from '../../support/approval-scene';
import { runCli } from '../../support/cli';
import { writeOutbound } from '../../support/container';
import { describeWithDockerd, startDockerd, type Dockerd } from '../../support/dockerd';
import { FakePlatform, postInbound } from '../../support/fake-platform';
import { waitForEvents, waitUntil } from '../../support/wait';

const BASE = 'switchyard-agent:group-image-test';

/** Runs one program in a container of the image (it has no shell) and returns its exit code and output. */
export async function runIn(docker: Dockerode, image: string, cmd: string[]): Promise<{ code: number; output: string }> {
  const container = await docker.createContainer({ Image: image, Cmd: cmd, HostConfig: { NetworkMode: 'none' } });
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const logs = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    // Multiplexed frames: an 8-byte header before each chunk.
    const chunks: Buffer[] = [];
    for (let offset = 0; offset + 8 <= logs.length; offset += 8 + logs.readUInt32BE(offset + 4)) chunks.push(logs.subarray(offset + 8, offset + 8 + logs.readUInt32BE(offset + 4)));
    return { code: StatusCode, output: Buffer.concat(chunks).toString('utf8') };
  } finally {
    await container.remove({ force: true });
  }
}

describe('group image tag', () => {
  it('is the same for the same base and packages in any order, and differs when either changes', () => {
    const a = groupImageTag('sha256:base', { apt: ['jq', 'curl'], npm: ['is-number'] });
    expect(groupImageTag('sha256:base', { apt: ['curl', 'jq', 'jq'], npm: ['is-number'] })).toEqual(a);
    expect(groupImageTag('sha256:other', { apt: ['jq', 'curl'], npm: ['is-number'] }).hash).not.toBe(a.hash);
    expect(groupImageTag('sha256:base', { apt: ['jq'], npm: ['is-number'] }).hash).not.toBe(a.hash);
    expect(a.tag).toMatch(/^switchyard-agent:[0-9a-f]{24}$/);
  });
});

describeWithDockerd('group image builder (real Docker engine, Debian and npm registries)', () => {
  let engine: Dockerd;
  // One apt cache for the file: the lists and .debs are fetched once.
  const cacheDir = join(mkdtempSync(join(tmpdir(), 'switchyard-apt-cache-')), 'apt');

  beforeAll(async () => {
    engine = await startDockerd();
    await buildAgentImage(engine.docker, { tag: BASE, repoRoot: packageRoot(__dirname) });
  }, 180_000);
  afterAll(async () => {
    await engine?.stop();
    rmSync(join(cacheDir, '..'), { recursive: true, force: true });
  });

  it('builds FROM the agent image with jq (apt, with its libraries) and is-number (npm) usable inside; the same packages again build nothing', async () => {
    const packages = { apt: ['jq'], npm: ['is-number'] };
    const result = await buildGroupImage(engine.docker, { baseImage: BASE, packages, cacheDir });
    if (!result.ok) throw new Error(`${result.reason}\n${result.logTail}`);
    expect(result).toEqual(expect.objectContaining({ built: true, tag: expect.stringMatching(/^switchyard-agent:/), sizeBytes: expect.any(Number) }));
    expect(result.resolved).toEqual(
      expect.arrayContaining([
        { manager: 'apt', name: 'jq', version: expect.stringMatching(/^1\./) },
        { manager: 'apt', name: 'libjq1', version: expect.any(String) },
        { manager: 'npm', name: 'is-number', version: expect.stringMatching(/^\d+\.\d+\.\d+$/) },
      ]),
    );

    const jq = await runIn(engine.docker, result.tag, ['jq', '--version']);
    expect(jq).toEqual({ code: 0, output: expect.stringMatching(/^jq-1\./) });
    const npm = await runIn(engine.docker, result.tag, ['node', '-e', "process.stdout.write(String(require('is-number')(5)))"]);
    expect(npm).toEqual({ code: 0, output: 'true' });
    // The runner still starts from the image's default command: the base image's files are all there.
    expect(await runIn(engine.docker, result.tag, ['node', '-e', "require('/opt/switchyard/node_modules/better-sqlite3'); process.stdout.write('ok')"])).toEqual({ code: 0, output: 'ok' });

    const again = await buildGroupImage(engine.docker, { baseImage: BASE, packages: { apt: ['jq'], npm: ['is-number'] }, cacheDir });
    expect(again).toEqual({ ...result, built: false });
  }, 300_000);

  it('fails with apt\'s or npm\'s own message for a package that does not exist, and tags nothing', async () => {
    const apt = await buildGroupImage(engine.docker, { baseImage: BASE, packages: { apt: ['no-such-package-switchyard'], npm: [] }, cacheDir });
    expect(apt).toEqual({ ok: false, reason: expect.stringContaining('Unable to locate package no-such-package-switchyard'), logTail: expect.any(String), packagesRefused: true });
    const npm = await buildGroupImage(engine.docker, { baseImage: BASE, packages: { apt: [], npm: ['no-such-package-switchyard-xyz'] }, cacheDir });
    expect(npm).toEqual({ ok: false, reason: expect.stringMatching(/npm error.*404/), logTail: expect.stringContaining('no-such-package-switchyard-xyz'), packagesRefused: true });
    const tags = (await engine.docker.listImages()).flatMap((image) => image.RepoTags ?? []);
    expect(tags.filter((tag) => tag !== BASE && tag.startsWith('switchyard-agent:'))).toHaveLength(1);
  }, 120_000);

  it('end to end through the host: an approved install_packages builds the image, restarts the agent in it and tells it; the same again builds nothing; a missing package fails and the old image stays', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-images-host-'));
    const cli = (...args: string[]) => runCli(['--data-dir', dataDir, ...args], { SWITCHYARD_OPERATOR: 'alice' });
    const platform = await FakePlatform.start();
    const channel = new WebhookChannel({ listen: { host: '127.0.0.1', port: 0 }, deliverUrl: platform.url });
    const config = loadConfig({ dataDir }, { SWITCHYARD_POLL_INTERVAL_MS: '20', SWITCHYARD_AGENT_IMAGE: BASE, SWITCHYARD_RUNNER_POLL_MS: '50' });
    const host = await Host.start(config, { channels: [channel], logger: createLogger('silent'), runtime: new DockerRuntime(engine.docker) });
    const after = (position: number, type: string, count = 1) => waitForEvents(host.core.store, (e) => e.position > position && e.type === type, count, 240_000);
    const ask = async (id: string, content: Record<string, unknown>, from: number) => {
      writeOutbound(sessionDir(dataDir, 'ag-andy', sessionId), [{ id, kind: 'system', content }]);
      const [requested] = await after(from, 'ApprovalRequested');
      const approvalId = (requested!.data as { approvalId: string }).approvalId;
      expect(cli('approvals', 'approve', approvalId).stdout).toContain(`approved ${approvalId}`);
      return approvalId;
    };
    const notices = () => {
      const db = new Database(join(sessionDir(dataDir, 'ag-andy', sessionId), 'inbound.db'), { readonly: true });
      try {
        return (db.prepare(`SELECT content FROM messages_in WHERE id LIKE 'sys-%' ORDER BY seq`).pluck().all() as string[]).map((c) => JSON.parse(c).text as string);
      } finally {
        db.close();
      }
    };
    let sessionId = '';
    try {
      seedApprovalScene(host.core);
      await postInbound(channel.url(), { platformId: 'fam', messageId: 'm-1', content: { text: 'please get jq' } });
      const [first] = await after(0, 'ContainerStarted');
      sessionId = (first!.data as { sessionId: string }).sessionId;
      expect(host.core.views.containers.get(sessionId)!.image).toBe(BASE);

      const approvalId = await ask('req-1', { action: 'install_packages', apt: ['jq'], npm: ['is-number'], reason: 'json' }, first!.position);
      const [built] = await waitForEvents(host.core.store, (e) => e.type === 'ImageBuilt' || e.type === 'ImageBuildFailed', 1, 240_000);
      expect(built!.type).toBe('ImageBuilt');
      const { tag } = built!.data as { tag: string };
      const [started] = (await waitForEvents(host.core.store, (e) => e.type === 'ImageBuildStarted')) as RecordedEvent<string, { trigger: string; packages: unknown }>[];
      expect(started!.data).toEqual(expect.objectContaining({ trigger: approvalId, packages: { apt: ['jq'], npm: ['is-number'] } }));
      expect(built!.data).toEqual(expect.objectContaining({ tag: expect.stringMatching(/^switchyard-agent:/), resolved: expect.arrayContaining([expect.objectContaining({ name: 'jq' })]), durationMs: expect.any(Number) }));
      // The agent restarts in the new image: stopped as image-rebuilt, or (when the build beat the approval's own restart) woken into it.
      const [starting] = await waitForEvents(host.core.store, (e) => e.type === 'ContainerStarting' && (e.data as { image: string }).image === tag, 1, 60_000);
      const [restarted] = await after(starting!.position, 'ContainerStarted');
      const runtimeId = (restarted!.data as { runtimeId: string }).runtimeId;
      expect((await engine.docker.getContainer(runtimeId).inspect()).Config.Image).toBe(tag);
      expect(host.core.views.containers.get(sessionId)!.image).toBe(tag);
      expect(notices()).toEqual(expect.arrayContaining([expect.stringContaining(`rebuilt with apt jq, npm is-number (${tag})`)]));
      expect(cli('groups', 'show', 'ag-andy').stdout).toContain(`Image: ${tag} (built`);
      expect(cli('sessions', 'show', sessionId).stdout).toContain(`Image: ${tag}`);
      expect(JSON.parse(cli('images', 'list', '--json').stdout)).toEqual([expect.objectContaining({ tag, agentGroups: ['ag-andy'], inUse: true })]);

      // The operator asks for the same image again: nothing is built, nothing restarts.
      expect(cli('groups', 'rebuild', 'ag-andy').stdout).toContain('asked for a rebuild');
      const [again] = await after(restarted!.position, 'ImageBuilt');
      expect(again!.data).toEqual(expect.objectContaining({ tag, reused: true }));
      expect([...host.core.store.readAll()].filter((e) => e.position > restarted!.position && e.type === 'ContainerStopRequested')).toEqual([]);
      expect(host.core.views.containers.get(sessionId)!.incarnation_id).toBe((restarted!.data as { incarnationId: string }).incarnationId);

      // A package that does not exist: the build fails with apt's message, the agent is told, the old image stays.
      await ask('req-2', { action: 'install_packages', apt: ['no-such-package-switchyard'], reason: 'typo' }, again!.position);
      const [failed] = await after(again!.position, 'ImageBuildFailed');
      expect(failed!.data).toEqual(expect.objectContaining({ reason: expect.stringContaining('Unable to locate package no-such-package-switchyard') }));
      // The approval itself restarts the agent; it comes back in the image it had.
      const [next] = await after(again!.position, 'ContainerStarting');
      expect(next!.data).toEqual(expect.objectContaining({ image: tag }));
      await waitUntil(() => notices().some((text) => text.includes('Unable to locate package')), 'the failure notice in inbound.db', 30_000);
      expect(notices()).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`failed: .*Unable to locate package no-such-package-switchyard.*You keep the image ${tag.replace(/[.:]/g, '\\$&')}`))]));
    } catch (error) {
      // What the log holds says which step did not come: the first thing to read when this fails.
      const log = [...host.core.store.readAll()].map((e) => `${e.position} ${e.type} ${e.type.startsWith('Image') ? JSON.stringify(e.data).slice(0, 600) : ''}`);
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${log.join('\n')}`);
    } finally {
      await host.stop();
      await platform.close();
      for (const c of await engine.docker.listContainers({ all: true, filters: { label: ['switchyard.session'] } })) await engine.docker.getContainer(c.Id).remove({ force: true });
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 600_000);
});
