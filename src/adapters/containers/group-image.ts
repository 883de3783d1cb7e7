import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import type { Logger } from '../../logger';
import { buildFromContext, HASH_LABEL } from './image';

/** Where the approved npm packages live inside an agent image (and, later, in a process runtime's prefix). */
export const AGENT_PACKAGES_PREFIX = '/opt/switchyard/agent-packages';
/** Marks images built here, so listing and pruning never touch anything else on the engine. */
export const GROUP_IMAGE_LABEL = 'switchyard.group-image';
const RESOLVED_LABEL = 'switchyard.resolved-packages';
const REPOSITORY = 'switchyard-agent';
/** A private package list older than this is fetched again: old lists name .debs the mirror no longer has. */
const LISTS_MAX_AGE_MS = 24 * 3600_000;
const LOG_TAIL = 4000;

export interface GroupPackages {
  apt: readonly string[];
  npm: readonly string[];
}

export interface ResolvedPackage {
  manager: 'apt' | 'npm';
  name: string;
  version: string;
}

export type GroupImageResult =
  | { ok: true; built: boolean; tag: string; hash: string; sizeBytes: number; resolved: ResolvedPackage[] }
  /** packagesRefused: a package manager (or the runtime) refused the packages themselves, not the build machinery. */
  | { ok: false; reason: string; logTail: string; packagesRefused?: boolean };

/** A package manager refused: the reason is its own message, the tail its whole output. */
export class PackageInstallError extends Error {
  constructor(
    message: string,
    readonly logTail: string,
  ) {
    super(message);
    this.name = 'PackageInstallError';
  }
}

/** Runs a program with an argument array (never a shell); a non-zero exit throws with its output. */
function run(file: string, args: readonly string[], options: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...options, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const output = `${stdout}\n${stderr}`.trim();
      const lines = output.split('\n');
      // apt says what went wrong on `E:` lines, npm on `npm error` lines; the first of them is the reason.
      const reason = lines.filter((line) => /^(E:|npm error)/.test(line)).slice(0, 3).join(' ') || lines.at(-1) || error.message;
      reject(new PackageInstallError(`${file} failed: ${reason}`, output.slice(-LOG_TAIL)));
    });
  });
}

/**
 * apt with its own state: an empty dpkg status (so the whole dependency closure is resolved,
 * as for an empty image), its own package lists and download cache under cacheDir. Nothing
 * on the host changes: no dpkg database, no lock, no maintainer script.
 */
function aptOptions(cacheDir: string): string[] {
  for (const dir of ['lists/partial', 'archives/partial']) mkdirSync(join(cacheDir, dir), { recursive: true });
  const status = join(cacheDir, 'status');
  if (!existsSync(status)) writeFileSync(status, '');
  return [
    '-o', `Dir::State::status=${status}`,
    '-o', `Dir::State::Lists=${join(cacheDir, 'lists')}`,
    '-o', `Dir::Cache=${cacheDir}`,
    '-o', `Dir::Cache::archives=${join(cacheDir, 'archives')}`,
    '-o', 'Debug::NoLocking=1',
    '-o', 'APT::Sandbox::User=root',
    '-o', 'APT::Install-Recommends=false',
    '-o', 'APT::Install-Suggests=false',
  ];
}

async function refreshLists(cacheDir: string, options: string[]): Promise<void> {
  const lists = join(cacheDir, 'lists');
  const fresh = readdirSync(lists).some((file) => file.includes('_Packages') && Date.now() - statSync(join(lists, file)).mtimeMs < LISTS_MAX_AGE_MS);
  if (!fresh) await run('apt-get', [...options, 'update', '-qq']);
}

/**
 * Resolves apt packages with their dependencies (apt's own resolver, recommends left out),
 * downloads the .debs and unpacks them with `dpkg -x` into layerDir: files only, no
 * maintainer scripts. Returns every package unpacked with its version.
 */
export async function installAptPackages(names: readonly string[], layerDir: string, cacheDir: string): Promise<ResolvedPackage[]> {
  if (names.length === 0) return [];
  const options = aptOptions(cacheDir);
  await refreshLists(cacheDir, options);
  const plan = await run('apt-get', [...options, 'install', '--simulate', '-y', ...names]);
  const packages = [...plan.matchAll(/^Inst (\S+) \((\S+) .*\[(\S+)\]\)$/gm)].map(([, name, version, arch]) => ({ name: name!, version: version!, arch: arch! }));
  await run('apt-get', [...options, 'install', '--download-only', '-y', ...names]);
  mkdirSync(layerDir, { recursive: true });
  for (const { name, version, arch } of packages) {
    await run('dpkg', ['-x', join(cacheDir, 'archives', `${name}_${version.replace(':', '%3a')}_${arch}.deb`), layerDir]);
  }
  return packages.map(({ name, version }) => ({ manager: 'apt' as const, name, version }));
}

/** `name@range` → `name`, scoped names included. */
const npmName = (spec: string) => spec.replace(/^(@?[^@]+)@.*$/, '$1');

/**
 * Installs npm packages into a prefix (`<prefix>/node_modules`), install scripts not run.
 * Returns the requested packages with the versions the lockfile resolved.
 */
export async function installNpmPackages(specs: readonly string[], prefix: string): Promise<ResolvedPackage[]> {
  if (specs.length === 0) return [];
  mkdirSync(prefix, { recursive: true });
  await run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--no-update-notifier', '--prefix', prefix, ...specs], { cwd: prefix });
  const lock = JSON.parse(readFileSync(join(prefix, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  return specs.map((spec) => ({ manager: 'npm' as const, name: npmName(spec), version: lock.packages[`node_modules/${npmName(spec)}`]?.version ?? 'unknown' }));
}

/** Same base image and same packages, in any order: same hash, same tag, one image. */
export function groupImageTag(baseImageId: string, packages: GroupPackages): { hash: string; tag: string } {
  const canonical = JSON.stringify({ base: baseImageId, apt: [...new Set(packages.apt)].sort(), npm: [...new Set(packages.npm)].sort() });
  const hash = createHash('sha256').update(canonical).digest('hex').slice(0, 24);
  return { hash, tag: `${REPOSITORY}:${hash}` };
}

export interface GroupImageOptions {
  /** The image the group's image is built FROM: the host's agent image. */
  baseImage: string;
  packages: GroupPackages;
  /** apt's lists and downloaded .debs, kept between builds. */
  cacheDir: string;
  logger?: Logger;
}

const DOCKERFILE = (base: string) => `# Generated by Switchyard: the agent image plus the group's approved packages.
FROM ${base}
COPY apt/ /
COPY npm/ /
ENV PATH=${AGENT_PACKAGES_PREFIX}/node_modules/.bin:/usr/local/bin:/usr/bin:/bin NODE_PATH=${AGENT_PACKAGES_PREFIX}/node_modules
`;

/**
 * The group's image: the base image, a layer of unpacked apt packages and a layer of npm
 * packages, tagged by the content hash. An image with that tag already there is reused,
 * not rebuilt. A package manager's refusal is a failed result carrying its message.
 */
export async function buildGroupImage(docker: Dockerode, options: GroupImageOptions): Promise<GroupImageResult> {
  const base = await docker.getImage(options.baseImage).inspect();
  const { hash, tag } = groupImageTag(base.Id, options.packages);
  const existing = await docker
    .getImage(tag)
    .inspect()
    .catch(() => undefined);
  if (existing?.Config?.Labels?.[HASH_LABEL] === hash) {
    const resolved = JSON.parse(existing.Config.Labels[RESOLVED_LABEL] ?? '[]') as ResolvedPackage[];
    return { ok: true, built: false, tag, hash, sizeBytes: existing.Size, resolved };
  }
  const context = mkdtempSync(join(tmpdir(), 'switchyard-group-image-'));
  try {
    mkdirSync(join(context, 'apt'));
    const resolved = [
      ...(await installAptPackages(options.packages.apt, join(context, 'apt'), options.cacheDir)),
      ...(await installNpmPackages(options.packages.npm, join(context, 'npm', AGENT_PACKAGES_PREFIX))),
    ];
    mkdirSync(join(context, 'npm'), { recursive: true });
    writeFileSync(join(context, 'Dockerfile'), DOCKERFILE(options.baseImage));
    await buildFromContext(docker, context, tag, { [HASH_LABEL]: hash, [GROUP_IMAGE_LABEL]: 'true', [RESOLVED_LABEL]: JSON.stringify(resolved) });
    const built = await docker.getImage(tag).inspect();
    options.logger?.info({ event: 'GroupImageBuilt', tag, hash, packages: resolved.length }, 'group image built');
    return { ok: true, built: true, tag, hash, sizeBytes: built.Size, resolved };
  } catch (error) {
    if (error instanceof PackageInstallError) return { ok: false, reason: error.message, logTail: error.logTail, packagesRefused: true };
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: message, logTail: message.slice(-LOG_TAIL) };
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}
