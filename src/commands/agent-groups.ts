import { posix } from 'node:path';
import { z } from 'zod';
import { AgentGroupCreated, AgentGroupDeleted, AgentGroupUpdated } from '../events/agent-groups';
import { ContainerConfig, Id, pathSegmentProblem } from '../events/primitives';
import { defineCommand, newId, reject } from './define';

/**
 * A folder name under the groups directory: one path segment of safe characters. The
 * pattern already excludes separators, dots and NUL; the resolve check states the rule
 * itself (the path stays strictly inside the groups directory) in case the pattern grows.
 */
export const FolderName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'expected a folder name: 1–64 letters, digits, "-" or "_", not starting with "-" or "_"')
  .refine((folder) => posix.dirname(posix.resolve('/groups', folder)) === '/groups', 'expected a folder directly inside the groups directory');

const Name = z.string().trim().min(1).max(100);

/** The refusal of an id that names a folder (sessions/<agent group>/<session>) and cannot: one plain path segment or nothing. */
export function unsafeIdRejection(what: string, id: string) {
  const problem = pathSegmentProblem(id);
  return problem === undefined ? undefined : reject('unsafe-id', `${what} ${JSON.stringify(id)} cannot name a folder: ${problem}`);
}

// Docker's reference grammar (distribution/reference), lowercase: an optional registry host
// with port, slash-separated path components, then an optional tag and digest. Checked here
// so a typo is refused when typed, not found at the next wake as a failed start.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REGISTRY = '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]+)?';
const IMAGE_REFERENCE = new RegExp(
  `^(?:${REGISTRY}/)?${COMPONENT}(?:/${COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-f]{32,})?$`,
);

/** A docker image reference, `name[:tag][@digest]`, as `docker run` takes it. */
export const ImageReference = z
  .string()
  .max(255)
  .regex(IMAGE_REFERENCE, 'expected a docker image reference: lowercase name[:tag][@digest], e.g. ghcr.io/acme/agent:1.2');

/**
 * A docker network mode or network name, as `docker run --network` takes it: none, bridge,
 * host, or a user-defined network (docker's name charset). `container:<id>`, sharing
 * another container's network, is left out: no agent should ride on another's.
 */
const NETWORK_EXPECTED = 'expected a docker network: none, bridge, host or a network name (at most 128 letters, digits, _ . -, starting with a letter or digit)';
export const NetworkName = z.string().max(128, NETWORK_EXPECTED).regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, NETWORK_EXPECTED);

export const CreateAgentGroup = defineCommand(
  'CreateAgentGroup',
  z.object({
    agentGroupId: Id.optional(),
    name: Name,
    folder: FolderName,
    isAdmin: z.boolean().default(false),
    agentProvider: z.string().min(1).max(100).nullable().default(null),
    containerConfig: ContainerConfig.default(ContainerConfig.parse({})),
  }),
  (views, command, context) => {
    const agentGroupId = command.agentGroupId ?? newId('ag', context);
    const unsafe = unsafeIdRejection('agent group id', agentGroupId);
    if (unsafe) return unsafe;
    if (views.agentGroups.getIncludingDeleted(agentGroupId)) return reject('agent-group-exists', `agent group ${agentGroupId} already exists`);
    if (views.agentGroups.folderTaken(command.folder)) {
      return reject('folder-taken', `folder ${command.folder} already belongs to an agent group`, { folder: command.folder });
    }
    return [AgentGroupCreated.create({ ...command, agentGroupId })];
  },
);

export const UpdateAgentGroup = defineCommand(
  'UpdateAgentGroup',
  z
    .object({
      agentGroupId: Id,
      name: Name.optional(),
      isAdmin: z.boolean().optional(),
      agentProvider: z.string().min(1).max(100).nullable().optional(),
      containerConfig: ContainerConfig.optional(),
      maxHops: z.number().int().min(1).max(1000).nullable().optional(),
      outboundPerMinute: z.number().int().min(1).max(100_000).nullable().optional(),
      /** The image its sessions run in; null: the host's default (SWITCHYARD_AGENT_IMAGE). */
      image: ImageReference.nullable().optional(),
      /** The docker network its containers join from their next start; null: none. */
      network: NetworkName.nullable().optional(),
    })
    .refine((c) => Object.keys(c).length > 1, 'expected at least one field to change: name, isAdmin, agentProvider, containerConfig, maxHops, outboundPerMinute, image or network'),
  (views, command) => {
    const group = views.agentGroups.get(command.agentGroupId);
    if (!group) return reject('unknown-agent-group', `no agent group ${command.agentGroupId}`);
    const { image, network, ...fields } = command;
    if (image === undefined && network === undefined) return [AgentGroupUpdated.create(fields)];
    // The event carries the whole container config (the projection replaces it), so each
    // setting is changed on the config the group has, or on the one this command brings.
    const containerConfig = { ...(fields.containerConfig ?? group.containerConfig) };
    for (const [key, value] of [['imageTag', image], ['network', network]] as const) {
      if (value === null) delete containerConfig[key];
      else if (value !== undefined) containerConfig[key] = value;
    }
    return [AgentGroupUpdated.create({ ...fields, containerConfig })];
  },
);

export const DeleteAgentGroup = defineCommand('DeleteAgentGroup', z.object({ agentGroupId: Id }), (views, command) => {
  if (!views.agentGroups.get(command.agentGroupId)) return reject('unknown-agent-group', `no agent group ${command.agentGroupId}`);
  const wirings = views.wirings.forAgentGroup(command.agentGroupId);
  if (wirings.length > 0) {
    return reject('still-wired', `agent group ${command.agentGroupId} is still wired to ${wirings.length} chat(s): unwire them first`, {
      messagingGroupIds: wirings.map((w) => w.messagingGroupId),
    });
  }
  return [AgentGroupDeleted.create(command)];
});

export const agentGroupCommands = [CreateAgentGroup, UpdateAgentGroup, DeleteAgentGroup];
