import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import type Dockerode from 'dockerode';
import type { Logger } from '../../logger';

/** The packages the runner requires at run time; install-time helpers are left out. */
const RUNTIME_PACKAGES = ['better-sqlite3', '@anthropic-ai/sdk', '@modelcontextprotocol/sdk'];
const INSTALL_ONLY = new Set(['prebuild-install']);
/** Build leftovers of better-sqlite3 that the image does not need (sources, objects, static lib). */
const SKIPPED = /\/(deps|src)(\/|$)|\/obj(\.target)?(\/|$)|\.a$|test_extension\.node$/;
export const HASH_LABEL = 'switchyard.content-hash';

export interface AgentImageOptions {
  tag: string;
  /** The package root: dist/docker/runner and node_modules are taken from it. */
  repoRoot: string;
  logger?: Logger;
}

/** Every package the given ones require, transitively, as folders under node_modules. */
function dependencyClosure(repoRoot: string, roots: readonly string[]): string[] {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name) || INSTALL_ONLY.has(name)) return;
    const manifest = join(repoRoot, 'node_modules', name, 'package.json');
    if (!existsSync(manifest)) return;
    seen.add(name);
    const { dependencies = {} } = JSON.parse(readFileSync(manifest, 'utf8')) as { dependencies?: Record<string, string> };
    Object.keys(dependencies).forEach(visit);
  };
  roots.forEach(visit);
  return [...seen].sort();
}

/** The shared libraries a binary loads, with the dynamic loader: what a FROM scratch image must carry. */
function sharedLibraries(binary: string): string[] {
  const output = execFileSync('ldd', [binary], { encoding: 'utf8' });
  return [...output.matchAll(/(\/\S+\.so[^\s]*)/g)].map((match) => match[1]!);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/**
 * A hash of everything that goes into the image: an image whose label carries the same
 * hash is not rebuilt.
 */
function contentHash(repoRoot: string, packages: readonly string[]): string {
  const hash = createHash('sha256');
  hash.update(readFileSync(join(repoRoot, 'docker', 'Dockerfile')));
  for (const file of filesUnder(join(repoRoot, 'dist', 'docker', 'runner'))) hash.update(relative(repoRoot, file)).update(readFileSync(file));
  for (const name of packages) hash.update(name).update(readFileSync(join(repoRoot, 'node_modules', name, 'package.json')));
  const node = statSync(process.execPath);
  hash.update(`${process.execPath}:${process.version}:${node.size}:${node.mtimeMs}`);
  return hash.digest('hex').slice(0, 32);
}

/** Stages the build context of docker/Dockerfile: node, its libraries, the runner and its packages. */
function stageContext(repoRoot: string, packages: readonly string[]): string {
  const context = mkdtempSync(join(tmpdir(), 'switchyard-image-'));
  const rootfs = join(context, 'rootfs');
  const copyFile = (from: string, to: string) => {
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(from, to);
  };
  copyFileSync(join(repoRoot, 'docker', 'Dockerfile'), join(context, 'Dockerfile'));
  copyFile(process.execPath, join(rootfs, 'usr', 'bin', 'node'));
  const addon = join(repoRoot, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  for (const library of new Set([...sharedLibraries(process.execPath), ...sharedLibraries(addon)])) copyFile(library, join(rootfs, library));
  cpSync(join(repoRoot, 'dist', 'docker', 'runner'), join(rootfs, 'opt', 'switchyard', 'dist', 'docker', 'runner'), { recursive: true });
  for (const name of packages) {
    cpSync(join(repoRoot, 'node_modules', name), join(rootfs, 'opt', 'switchyard', 'node_modules', name), {
      recursive: true,
      filter: (source) => !SKIPPED.test(source.slice(repoRoot.length)),
    });
  }
  mkdirSync(join(rootfs, 'tmp'), { recursive: true });
  return context;
}

/**
 * Builds the agent image from local files (no registry), unless an image with this tag
 * and the same content hash exists. Returns whether it built.
 */
export async function buildAgentImage(docker: Dockerode, options: AgentImageOptions): Promise<boolean> {
  const runner = join(options.repoRoot, 'dist', 'docker', 'runner', 'main.js');
  if (!existsSync(runner)) throw new Error(`${runner} is missing: run \`npm run build\` first`);
  const packages = dependencyClosure(options.repoRoot, RUNTIME_PACKAGES);
  const hash = contentHash(options.repoRoot, packages);
  const existing = await docker
    .getImage(options.tag)
    .inspect()
    .catch(() => undefined);
  if (existing?.Config?.Labels?.[HASH_LABEL] === hash) return false;
  const context = stageContext(options.repoRoot, packages);
  try {
    await buildFromContext(docker, context, options.tag, { [HASH_LABEL]: hash });
    options.logger?.info({ event: 'AgentImageBuilt', tag: options.tag, hash }, 'agent image built');
    return true;
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

/** Builds the Dockerfile of a staged context directory (sent as a tar, so only local files go in); throws with the engine's message. */
export async function buildFromContext(docker: Dockerode, context: string, tag: string, labels: Record<string, string>): Promise<void> {
  const tar = spawn('tar', ['-C', context, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stream = await docker.buildImage(tar.stdout, { t: tag, labels, rm: true, forcerm: true });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (error: Error | null, output: Array<{ error?: string }>) => {
      const failed = error?.message ?? output.find((line) => line.error)?.error;
      if (failed) reject(new Error(`building ${tag} failed: ${failed}`));
      else resolve();
    }),
  );
}
