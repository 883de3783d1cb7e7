import { z } from 'zod';
import { AgentImageRebuildRequested, AgentNotified } from '../events/admin';
import { AgentGroupUpdated } from '../events/agent-groups';
import { ContainerStopRequested } from '../events/containers';
import type { PendingEvent } from '../events/define';
import { ImageBuildFailed, ImageBuilt, ImageBuildStarted, ImagesPruned, ResolvedPackage } from '../events/images';
import { Id } from '../events/primitives';
import type { Views } from '../projections';
import type { ImageBuildRow } from '../projections/images';
import { defineCommand, newId, reject, type CommandContext, type Rejection } from './define';
import { InstallPackagesRequest } from './system-actions';

/** The operator asks for the group's image to be built again from its configuration (`groups rebuild`). */
export const RequestImageRebuild = defineCommand('RequestImageRebuild', z.object({ agentGroupId: Id }), (views, command) => {
  if (!views.agentGroups.get(command.agentGroupId)) return reject('unknown-agent-group', `no agent group ${command.agentGroupId}`);
  return [AgentImageRebuildRequested.create({ agentGroupId: command.agentGroupId, approvalId: null })];
});

/**
 * A build begins for the packages the group's configuration has now. One build per group
 * at a time: the builder runs them in turn, and a second one started while the first is
 * open would race it for the group's image.
 */
export const StartImageBuild = defineCommand('StartImageBuild', z.object({ agentGroupId: Id, trigger: z.string().min(1).max(300) }), (views, command, context) => {
  const group = views.agentGroups.get(command.agentGroupId);
  if (!group) return reject('unknown-agent-group', `no agent group ${command.agentGroupId}`);
  const open = views.images.building().find((build) => build.agent_group_id === group.id);
  if (open) return reject('build-in-progress', `build ${open.build_id} of agent group ${group.id} has not finished`);
  const { apt, npm } = group.containerConfig.packages;
  return [ImageBuildStarted.create({ agentGroupId: group.id, buildId: newId('build', context), packages: { apt, npm }, trigger: command.trigger })];
});

function openBuild(views: Views, buildId: string): ImageBuildRow | Rejection {
  const build = views.images.get(buildId);
  if (!build) return reject('unknown-build', `no image build ${buildId}`);
  if (build.status !== 'building') return reject('build-finished', `image build ${buildId} is already ${build.status}`);
  return build;
}

/** The session told of the outcome: the one whose approved request started the build, if any. */
function requester(views: Views, build: ImageBuildRow): string | undefined {
  return views.approvals.get(build.trigger)?.session_id;
}

function tell(views: Views, build: ImageBuildRow, context: CommandContext, text: string, details: Record<string, unknown>): PendingEvent[] {
  const sessionId = requester(views, build);
  return sessionId ? [AgentNotified.create({ sessionId, noticeId: newId('notice', context), text, details: { buildId: build.build_id, approvalId: build.trigger, ...details } })] : [];
}

const list = (packages: string) => {
  const { apt, npm } = JSON.parse(packages) as { apt: string[]; npm: string[] };
  return [...apt.map((name) => `apt ${name}`), ...npm.map((name) => `npm ${name}`)].join(', ') || 'no extra packages';
};

/**
 * The image is there. When it is not the one the group already ran, the group's live
 * containers still on another image are stopped (image-rebuilt) so the next wake starts
 * in it; an image the operator named for the group (`groups update --image`) still wins.
 */
export const RecordImageBuilt = defineCommand(
  'RecordImageBuilt',
  z.object({
    buildId: Id,
    tag: z.string().min(1),
    hash: z.string().min(1),
    sizeBytes: z.number().int().min(0),
    resolved: z.array(ResolvedPackage),
    durationMs: z.number().int().min(0),
    reused: z.boolean(),
  }),
  (views, command, context) => {
    const build = openBuild(views, command.buildId);
    if ('rejected' in build) return build;
    const group = views.agentGroups.get(build.agent_group_id);
    const previous = views.images.current(build.agent_group_id)?.tag;
    const events: PendingEvent[] = [ImageBuilt.create({ agentGroupId: build.agent_group_id, ...command })];
    if (previous === command.tag) {
      return [...events, ...tell(views, build, context, `Your image already had ${list(build.packages)}: nothing was rebuilt.`, { tag: command.tag })];
    }
    const operatorImage = group?.containerConfig.imageTag;
    if (!operatorImage) {
      for (const container of views.containers.listLive()) {
        if (container.agent_group_id !== build.agent_group_id || container.status === 'stopping' || container.image === command.tag) continue;
        events.push(
          ContainerStopRequested.create({ sessionId: container.session_id, incarnationId: container.incarnation_id, reason: 'image-rebuilt', evidence: { buildId: build.build_id, tag: command.tag } }),
        );
      }
    }
    const text = operatorImage
      ? `Your image was built with ${list(build.packages)} (${command.tag}), but the operator set this group's image to ${operatorImage}, which stays in use.`
      : `Your image was rebuilt with ${list(build.packages)} (${command.tag}); your container restarts in it.`;
    return [...events, ...tell(views, build, context, text, { tag: command.tag })];
  },
);

/** The build failed: the group keeps the image it had, and the requester is told why. */
export const RecordImageBuildFailed = defineCommand(
  'RecordImageBuildFailed',
  z.object({
    buildId: Id,
    reason: z.string().min(1).max(4000),
    logTail: z.string().max(8000).default(''),
    durationMs: z.number().int().min(0).nullable(),
    /** The package manager (or the runtime) refused the packages themselves, not the build machinery. */
    packagesRefused: z.boolean().default(false),
  }),
  (views, command, context) => {
    const build = openBuild(views, command.buildId);
    if ('rejected' in build) return build;
    const { packagesRefused, ...failure } = command;
    const kept = views.images.current(build.agent_group_id)?.tag;
    const withdrawn = packagesRefused ? withdrawApproved(views, build) : [];
    const told = `Building your image with ${list(build.packages)} failed: ${command.reason}. You keep ${kept ? `the image ${kept}` : 'the default image'}.${withdrawn.length ? ' The packages of that request were taken out of your configuration, so they do not block later builds.' : ''}`;
    return [ImageBuildFailed.create({ agentGroupId: build.agent_group_id, ...failure }), ...withdrawn, ...tell(views, build, context, told, { reason: command.reason })];
  },
);

/**
 * A request whose packages the package manager refused (a name the registry lacks, apt
 * under the process runtime) would make every later build of the group fail: its packages
 * leave the configuration again. Only the approved request's own packages, only when the
 * build it started failed because of packages; an interrupted build keeps them.
 */
function withdrawApproved(views: Views, build: ImageBuildRow): PendingEvent[] {
  const approval = views.approvals.get(build.trigger);
  const group = views.agentGroups.get(build.agent_group_id);
  if (approval?.action !== 'install_packages' || !group) return [];
  const requested = InstallPackagesRequest.safeParse(JSON.parse(approval.payload));
  if (!requested.success) return [];
  const { apt, npm } = group.containerConfig.packages;
  const packages = { apt: apt.filter((name) => !requested.data.apt.includes(name)), npm: npm.filter((name) => !requested.data.npm.includes(name)) };
  if (packages.apt.length === apt.length && packages.npm.length === npm.length) return [];
  return [AgentGroupUpdated.create({ agentGroupId: group.id, containerConfig: { ...group.containerConfig, packages } })];
}

/** Records which unused images the operator removed from the engine. */
export const RecordImagesPruned = defineCommand('RecordImagesPruned', z.object({ tags: z.array(z.string().min(1)).min(1) }), (_views, command) => [ImagesPruned.create(command)]);

export const imageCommands = [RequestImageRebuild, StartImageBuild, RecordImageBuilt, RecordImageBuildFailed, RecordImagesPruned];
