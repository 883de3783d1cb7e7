import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { groupImageTag, installNpmPackages, PackageInstallError, type GroupImageResult, type GroupPackages, type ResolvedPackage } from './group-image';

/** Written last into a finished prefix: a folder without it is a build that did not finish. */
const COMPLETE = '.switchyard-packages.json';

const bytesUnder = (dir: string) =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .reduce((sum, entry) => sum + statSync(join(entry.parentPath, entry.name)).size, 0);

/**
 * The process runtime's counterpart of a group image: the approved npm packages installed
 * (install scripts not run) into a folder of their own under `root`, named by the content
 * hash of the package list, so identical lists share one and a rebuild with nothing new is
 * a no-op. The runner gets its `node_modules/.bin` on PATH and `node_modules` on NODE_PATH.
 * apt packages would change the host's own system for one agent: they need the docker
 * runtime, and a request for them fails with that reason.
 */
export async function buildPackagePrefix(root: string, packages: GroupPackages): Promise<GroupImageResult> {
  if (packages.apt.length > 0) {
    return { ok: false, reason: `apt packages (${packages.apt.join(', ')}) need the docker runtime: agents here run as child processes of the host, whose own system is not changed for one agent`, logTail: '', packagesRefused: true };
  }
  const { hash } = groupImageTag('process-runtime', packages);
  const dir = join(root, hash);
  if (existsSync(join(dir, COMPLETE))) {
    const resolved = JSON.parse(readFileSync(join(dir, COMPLETE), 'utf8')) as ResolvedPackage[];
    return { ok: true, built: false, tag: dir, hash, sizeBytes: bytesUnder(dir), resolved };
  }
  mkdirSync(root, { recursive: true });
  // Installed beside, moved into place whole: a crash never leaves a half prefix under the hash's name.
  const staging = mkdtempSync(join(root, `.${hash}-`));
  try {
    const resolved = await installNpmPackages(packages.npm, staging);
    writeFileSync(join(staging, COMPLETE), JSON.stringify(resolved));
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
    return { ok: true, built: true, tag: dir, hash, sizeBytes: bytesUnder(dir), resolved };
  } catch (error) {
    if (error instanceof PackageInstallError) return { ok: false, reason: error.message, logTail: error.logTail, packagesRefused: true };
    throw error;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
