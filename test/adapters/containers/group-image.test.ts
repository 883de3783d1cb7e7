import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { buildGroupImage, groupImageTag } from '../../../src/adapters/containers/group-image';
import { buildAgentImage } from '../../../src/adapters/containers/image';
import { packageRoot } from '../../../src/db/package-root';
import { describeWithDockerd, startDockerd, type Dockerd } from '../../support/dockerd';

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
  const cacheDir = mkdtempSync(join(tmpdir(), 'switchyard-apt-cache-'));

  beforeAll(async () => {
    engine = await startDockerd();
    await buildAgentImage(engine.docker, { tag: BASE, repoRoot: packageRoot(__dirname) });
  }, 180_000);
  afterAll(async () => {
    await engine?.stop();
    rmSync(cacheDir, { recursive: true, force: true });
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
    expect(apt).toEqual({ ok: false, reason: expect.stringContaining('Unable to locate package no-such-package-switchyard'), logTail: expect.any(String) });
    const npm = await buildGroupImage(engine.docker, { baseImage: BASE, packages: { apt: [], npm: ['no-such-package-switchyard-xyz'] }, cacheDir });
    expect(npm).toEqual({ ok: false, reason: expect.stringMatching(/npm error.*404/), logTail: expect.stringContaining('no-such-package-switchyard-xyz') });
    const tags = (await engine.docker.listImages()).flatMap((image) => image.RepoTags ?? []);
    expect(tags.filter((tag) => tag !== BASE && tag.startsWith('switchyard-agent:'))).toHaveLength(1);
  }, 120_000);
});
