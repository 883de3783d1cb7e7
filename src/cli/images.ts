import type { Command } from 'commander';
import Dockerode from 'dockerode';
import { GROUP_IMAGE_LABEL } from '../adapters/containers/group-image';
import { RecordImagesPruned } from '../commands/images';
import type { Core } from '../core';
import { configFor, openExisting } from './context';
import { dispatchFromCli, printRead } from './dispatch';

export interface ImageListing {
  tag: string;
  hash: string;
  /** The agent groups whose current image it is. */
  agentGroups: string[];
  packages: { apt: string[]; npm: string[] };
  sizeBytes: number;
  builtAt: string;
  /** A group's current image, or running in a live container. */
  inUse: boolean;
}

/** Every image built for agent groups and not pruned, newest build of each tag. */
function listImages(core: Core): ImageListing[] {
  const groups = core.views.agentGroups.list();
  const live = new Set(core.views.containers.listLive().map((container) => container.image));
  const byTag = new Map(core.views.images.built().filter((build) => build.pruned_at === null).map((build) => [build.tag!, build]));
  return [...byTag.values()].map((build) => {
    const agentGroups = groups.filter((group) => core.views.images.current(group.id)?.tag === build.tag).map((group) => group.id);
    return {
      tag: build.tag!,
      hash: build.hash!,
      agentGroups,
      packages: JSON.parse(build.packages) as ImageListing['packages'],
      sizeBytes: build.size_bytes!,
      builtAt: build.finished_at!,
      inUse: agentGroups.length > 0 || live.has(build.tag!),
    };
  });
}

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const packageCell = ({ apt, npm }: ImageListing['packages']) => [...apt.map((p) => `apt:${p}`), ...npm.map((p) => `npm:${p}`)].join(' ');

export function registerImages(program: Command): void {
  const images = program.command('images').description('agent group images built from approved packages');
  images
    .command('list')
    .description('every image built for an agent group: its groups, packages, size, and whether it is in use')
    .option('--json', 'print as JSON')
    .action((options: { json?: boolean }, command: Command) =>
      printRead(command, options.json, listImages, (list) => ({
        headers: ['TAG', 'GROUPS', 'PACKAGES', 'SIZE', 'IN USE', 'BUILT'],
        rows: list.map((i) => [i.tag, i.agentGroups.join(' '), packageCell(i.packages), megabytes(i.sizeBytes), i.inUse ? 'yes' : 'no', i.builtAt]),
      })),
    );
  images
    .command('prune')
    .description('remove from the Docker engine the agent group images no group uses and no container runs (recorded)')
    .action(async (_options: unknown, command: Command) => {
      const config = configFor(command);
      const docker = new Dockerode({ socketPath: config.dockerSocket });
      const core = openExisting(command);
      let inUse: Set<string>;
      try {
        inUse = new Set(listImages(core).filter((i) => i.inUse).map((i) => i.tag));
      } finally {
        core.close();
      }
      const removed: string[] = [];
      for (const image of await docker.listImages({ filters: { label: [GROUP_IMAGE_LABEL] } })) {
        for (const tag of image.RepoTags ?? []) {
          if (inUse.has(tag)) continue;
          await docker.getImage(tag).remove();
          removed.push(tag);
        }
      }
      if (removed.length === 0) {
        console.log('no unused agent group images');
        return;
      }
      dispatchFromCli(command, (commandId, metadata) => RecordImagesPruned.envelope(commandId, { tags: removed }, metadata), {}, () => `removed ${removed.join(' ')}`);
    });
}
