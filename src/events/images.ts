import { z } from 'zod';
import { defineEvent } from './define';
import { agentGroupStream } from './destinations';
import { Id } from './primitives';

const Packages = z.object({ apt: z.array(z.string()), npm: z.array(z.string()) });
export const ResolvedPackage = z.object({ manager: z.enum(['apt', 'npm']), name: z.string(), version: z.string() });

/** A build of an agent group's image began, for the packages its configuration had then. */
export const ImageBuildStarted = defineEvent({
  type: 'ImageBuildStarted',
  version: 1,
  schema: z.object({
    agentGroupId: Id,
    buildId: Id,
    packages: Packages,
    /** What asked for it: the approval id, `operator:<name>`, or `restart:<build id>` for a build a host stop interrupted. */
    trigger: z.string(),
  }),
  stream: (data) => agentGroupStream(data.agentGroupId),
});

export const ImageBuilt = defineEvent({
  type: 'ImageBuilt',
  version: 1,
  schema: z.object({
    agentGroupId: Id,
    buildId: Id,
    tag: z.string(),
    /** The content hash of (base image, packages): the tag's own. */
    hash: z.string(),
    sizeBytes: z.number().int().min(0),
    /** Every package in the image with the version installed, apt dependencies included. */
    resolved: z.array(ResolvedPackage),
    durationMs: z.number().int().min(0),
    /** An image with this content already existed: nothing was built. */
    reused: z.boolean(),
  }),
  stream: (data) => agentGroupStream(data.agentGroupId),
});

export const ImageBuildFailed = defineEvent({
  type: 'ImageBuildFailed',
  version: 1,
  schema: z.object({
    agentGroupId: Id,
    buildId: Id,
    /** The package manager's or the engine's own message. */
    reason: z.string(),
    logTail: z.string(),
    durationMs: z.number().int().min(0).nullable(),
  }),
  stream: (data) => agentGroupStream(data.agentGroupId),
});

/** Images no agent group uses any more, removed from the engine by the operator. */
export const ImagesPruned = defineEvent({
  type: 'ImagesPruned',
  version: 1,
  schema: z.object({ tags: z.array(z.string()) }),
  stream: () => 'images-pruned',
});

export const imageEvents = [ImageBuildStarted, ImageBuilt, ImageBuildFailed, ImagesPruned];
