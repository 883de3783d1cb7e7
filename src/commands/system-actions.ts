import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AgentInstructionsSet, AgentNotified, ApprovalRequested, SystemActionAccepted, type ApprovalAction } from '../events/admin';
import { AgentGroupCreated } from '../events/agent-groups';
import { DestinationAdded } from '../events/destinations';
import type { PendingEvent } from '../events/define';
import { ContainerConfig } from '../events/primitives';
import { OutboundDropped, type OutboundDropReason, type OutboundRow } from '../events/outbound';
import type { Views } from '../projections';
import type { SessionRow } from '../projections/sessions';
import { FolderName } from './agent-groups';
import { readAgentTime } from './agent-time';
import { isRejection, newId, type CommandContext, type Decision } from './define';
import { normalizeLocalName } from './destinations';
import { CancelTask, PauseTask, ResumeTask, ScheduleTask } from './tasks';

/** How long an approval request waits for an admin before it closes itself. */
const APPROVAL_TTL_MS = 24 * 3_600_000;
const MAX_PACKAGES = 20;

/** Semver range characters for a pinned version: `1.2.3`, `^2.0.0`, `~1.2`, `1.x`, `2.0.0-rc.1`. */
const VERSION = '[~^]?[0-9A-Za-z][0-9A-Za-z.+-]{0,63}';
/** apt names (Debian policy), nothing that could be a flag, a path or a shell word; optionally `=version`. */
export const AptPackage = z.string().max(214).regex(new RegExp(`^[a-z0-9][a-z0-9.+-]*(=${VERSION})?$`), 'expected an apt package name: lowercase letters, digits, ".", "+", "-", starting with a letter or digit');
/** npm names, scoped or not; optionally `@version` (a deliberate extension of the reference's pattern). */
export const NpmPackage = z
  .string()
  .max(214)
  .regex(new RegExp(`^(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*(@${VERSION})?$`), 'expected an npm package name: lowercase, optionally @scope/, optionally @version');

export const InstallPackagesRequest = z
  .object({ apt: z.array(AptPackage).default([]), npm: z.array(NpmPackage).default([]), reason: z.string().max(2000).default('') })
  .refine((r) => r.apt.length + r.npm.length >= 1, 'expected at least one package')
  .refine((r) => r.apt.length + r.npm.length <= MAX_PACKAGES, `expected at most ${MAX_PACKAGES} packages per request`);

/** A program word: a name on PATH or an absolute path of plain segments; never a flag or a shell construct. */
const Program = z.string().max(500).regex(/^(\/?[A-Za-z0-9_][A-Za-z0-9_.+-]*)(\/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*$/, 'expected a program name or an absolute path of plain segments');
/** An argument: no shell metacharacters, quotes, spaces or control characters. */
const Argument = z.string().min(1).max(1000).regex(/^[A-Za-z0-9@%+=:,./_~^-]+$/, 'expected an argument without spaces, quotes or shell metacharacters');
export const AddMcpServerRequest = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'expected an MCP server name: lowercase letters, digits, "-" or "_"'),
  command: Program,
  args: z.array(Argument).max(50).default([]),
  env: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]{0,63}$/, 'expected an environment variable name'), z.string().max(4000).regex(/^[^\u0000\n\r]*$/, 'expected a value on one line')).default({}),
});
const RequestRebuildRequest = z.object({ reason: z.string().max(2000).default('') });
const CreateAgentRequest = z.object({ requestId: z.string().max(200).optional(), name: z.string().trim().min(1).max(100), instructions: z.string().max(100_000).default('') });

const APPROVAL_REQUESTS: Record<ApprovalAction, z.ZodType<Record<string, unknown>>> = {
  install_packages: InstallPackagesRequest,
  add_mcp_server: AddMcpServerRequest,
  request_rebuild: RequestRebuildRequest,
};

/** The hash an approval names: of the payload's JSON with keys in a fixed order. */
export function payloadHash(payload: unknown): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value) ? value.map(canonical) : value !== null && typeof value === 'object' ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])])) : value;
  return createHash('sha256').update(JSON.stringify(canonical(payload))).digest('hex');
}

/** Everything an approval would apply, in words: nothing is hidden from the admin. */
function describeRequest(agentName: string, action: ApprovalAction, payload: Record<string, unknown>, hash: string): string {
  const lines = [`${agentName} asks to ${action.replace(/_/g, ' ')}:`];
  for (const [key, value] of Object.entries(payload)) lines.push(`  ${key}: ${JSON.stringify(value)}`);
  lines.push(`payload ${hash.slice(0, 12)}`);
  return lines.join('\n');
}

const zodReason = (error: z.ZodError): string => error.issues.map((i) => `${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`).join('; ');

interface SystemRequest {
  views: Views;
  session: SessionRow;
  row: OutboundRow;
  content: Record<string, unknown>;
  context: CommandContext;
}

/** A refusal of a system row: recorded as a drop with its reason, and the agent is told why. */
function refuse({ session, row, context }: SystemRequest, reason: OutboundDropReason, explanation: string): PendingEvent[] {
  return [
    OutboundDropped.create({ sessionId: session.id, agentGroupId: session.agent_group_id, outboundId: row.id, reason, explanation, target: null, row }),
    AgentNotified.create({ sessionId: session.id, noticeId: newId('notice', context), text: `Your request ${row.id} was refused: ${explanation}`, details: { outboundId: row.id, reason } }),
  ];
}

const accepted = ({ session, row }: SystemRequest, action: string, result: Record<string, unknown>) =>
  SystemActionAccepted.create({ sessionId: session.id, agentGroupId: session.agent_group_id, outboundId: row.id, action, result });

/** The first name from `base`, `base-2`, `base-3` … that `taken` does not hold. */
function firstFree(base: string, taken: (candidate: string) => boolean): string {
  let candidate = base;
  for (let n = 2; taken(candidate); n++) candidate = `${base}-${n}`;
  return candidate;
}

/**
 * create_agent (spec §5): only from an admin agent group, whatever the container claimed.
 * The child gets a folder that passes the same guard as CreateAgentGroup, and both
 * destinations (creator → child by its name, child → creator as `parent`) come in the
 * same decision.
 */
function createAgent(request: SystemRequest): PendingEvent[] {
  const { views, session, context } = request;
  const creator = views.agentGroups.get(session.agent_group_id)!;
  if (!creator.isAdmin) return refuse(request, 'not-admin', `create_agent is for admin agent groups only, and ${creator.id} is not one`);
  const parsed = CreateAgentRequest.safeParse(request.content);
  if (!parsed.success) return refuse(request, 'invalid-request', `create_agent: ${zodReason(parsed.error)}`);
  const { name, instructions } = parsed.data;
  const localName = normalizeLocalName(name);
  if (views.destinations.find(creator.id, localName)) return refuse(request, 'invalid-request', `create_agent: you already have a destination named "${localName}"`);
  const folder = firstFree(localName, (candidate) => views.agentGroups.folderTaken(candidate));
  if (!FolderName.safeParse(folder).success) return refuse(request, 'invalid-request', `create_agent: "${name}" gives no usable folder name (${folder})`);
  const childId = newId('ag', context);
  return [
    AgentGroupCreated.create({ agentGroupId: childId, name, folder, isAdmin: false, agentProvider: null, containerConfig: ContainerConfig.parse({}) }),
    AgentInstructionsSet.create({ agentGroupId: childId, instructions }),
    DestinationAdded.create({ agentGroupId: creator.id, localName, targetType: 'agent', targetId: childId }),
    DestinationAdded.create({ agentGroupId: childId, localName: 'parent', targetType: 'agent', targetId: creator.id }),
    accepted(request, 'create_agent', { agentGroupId: childId, localName, folder }),
    AgentNotified.create({
      sessionId: session.id,
      noticeId: newId('notice', context),
      text: `Agent "${name}" was created; address it as "${localName}". It knows you as "parent".`,
      details: { agentGroupId: childId, localName, requestId: parsed.data.requestId ?? null },
    }),
  ];
}

/**
 * The request an admin is asked to approve (validated as the action's request, shown in the
 * admin agent group's first wired chat), or why none can be made. Agents' system rows and
 * requests imported from NanoClaw both come through here, so both carry the hash of exactly
 * the payload shown.
 */
export function approvalRequest(
  views: Views,
  session: SessionRow,
  request: { approvalId: string; outboundId: string; action: ApprovalAction; fields: Record<string, unknown>; issuedAt: string },
): PendingEvent | { reason: 'invalid-request' | 'no-admin-channel'; explanation: string } {
  const { action } = request;
  const parsed = APPROVAL_REQUESTS[action].safeParse(request.fields);
  if (!parsed.success) return { reason: 'invalid-request', explanation: `${action}: ${zodReason(parsed.error)}` };
  const admin = views.agentGroups.list().find((group) => group.isAdmin && views.wirings.forAgentGroup(group.id).length > 0);
  const wiring = admin && views.wirings.forAgentGroup(admin.id)[0]!;
  const chat = wiring && views.messagingGroups.get(wiring.messagingGroupId);
  if (!chat) return { reason: 'no-admin-channel', explanation: `${action} needs an admin's approval, and no admin agent group has a wired chat to ask in` };
  const payload = parsed.data;
  const hash = payloadHash(payload);
  const requester = views.agentGroups.get(session.agent_group_id)!;
  return ApprovalRequested.create({
    approvalId: request.approvalId,
    sessionId: session.id,
    agentGroupId: requester.id,
    outboundId: request.outboundId,
    action,
    payload,
    payloadHash: hash,
    shownText: describeRequest(requester.name, action, payload, hash),
    expiresAt: new Date(Date.parse(request.issuedAt) + APPROVAL_TTL_MS).toISOString(),
    adminChat: { messagingGroupId: chat.id, channelType: chat.channel_type, platformId: chat.platform_id },
  });
}

/** install_packages, add_mcp_server, request_rebuild: validated here, then a card for the admin. */
function requestApproval(request: SystemRequest, action: ApprovalAction): PendingEvent[] {
  const { views, session, context } = request;
  const { action: _action, ...fields } = request.content;
  const approvalId = newId('appr', context);
  const requested = approvalRequest(views, session, { approvalId, outboundId: request.row.id, action, fields, issuedAt: context.issuedAt });
  if ('reason' in requested) return refuse(request, requested.reason, requested.explanation);
  return [
    requested,
    accepted(request, action, { approvalId }),
    AgentNotified.create({ sessionId: session.id, noticeId: newId('notice', context), text: `Your ${action} request was submitted for an admin's approval (${approvalId}).`, details: { approvalId } }),
  ];
}

/** An agent's processAfter as the instant ScheduleTask takes, or why it is refused. */
function agentProcessAfter(value: unknown, issuedAt: string): { processAfter?: string } | { problem: string } {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'string') return { problem: 'processAfter: expected a time as text (YYYY-MM-DD HH:MM:SS in UTC, or ISO-8601)' };
  const time = readAgentTime('processAfter', value, Date.parse(issuedAt));
  return 'problem' in time ? time : { processAfter: new Date(time.at).toISOString() };
}

/**
 * schedule_task (spec §5): a task row in the agent's own session. Every refusal, the
 * scheduler's own included (a cron that never fires), is recorded and told to the agent.
 */
function scheduleTask(request: SystemRequest): Decision {
  const { content, session, context, views } = request;
  const when = agentProcessAfter(content.processAfter, context.issuedAt);
  if ('problem' in when) return refuse(request, 'invalid-request', `schedule_task: ${when.problem}`);
  const decision = ScheduleTask.decide(
    views,
    ScheduleTask.schema.parse({
      sessionId: session.id,
      ...(typeof content.taskId === 'string' && { taskId: content.taskId }),
      prompt: content.prompt,
      script: content.script ?? null,
      ...when,
      recurrence: content.recurrence ?? null,
      platformId: content.platformId ?? null,
      channelType: content.channelType ?? null,
      threadId: content.threadId ?? null,
    }),
    context,
  );
  if (isRejection(decision)) return refuse(request, 'invalid-request', `schedule_task: ${decision.message}`);
  return [...decision, accepted(request, 'schedule_task', { taskId: (decision[0]!.data as { taskId: string }).taskId })];
}

const TASK_CHANGES = { cancel_task: CancelTask, pause_task: PauseTask, resume_task: ResumeTask } as const;

/** cancel_task, pause_task, resume_task (spec §5): only a task of the agent's own session. */
function changeTask(request: SystemRequest, action: keyof typeof TASK_CHANGES): Decision {
  const { content, session, context, views } = request;
  const command = TASK_CHANGES[action];
  const decision = command.decide(views, command.schema.parse({ taskId: content.taskId, sessionId: session.id }), context);
  if (isRejection(decision)) return refuse(request, 'invalid-request', `${action}: ${decision.message}`);
  return [...decision, accepted(request, action, { taskId: content.taskId as string })];
}

/** A messages_out row of kind `system`: the action it names, decided on the host (spec §5). */
export function decideSystemAction(views: Views, session: SessionRow, row: OutboundRow, context: CommandContext): Decision {
  let content: Record<string, unknown>;
  try {
    content = JSON.parse(row.content) as Record<string, unknown>;
  } catch {
    content = {};
  }
  const request: SystemRequest = { views, session, row, content, context };
  const action = content.action;
  try {
    switch (action) {
      case 'create_agent':
        return createAgent(request);
      case 'install_packages':
      case 'add_mcp_server':
      case 'request_rebuild':
        return requestApproval(request, action);
      case 'schedule_task':
        return scheduleTask(request);
      case 'cancel_task':
      case 'pause_task':
      case 'resume_task':
        return changeTask(request, action);
      default:
        return refuse(request, 'unknown-action', `the system action ${JSON.stringify(action ?? null)} is not one this host handles; recorded and ignored`);
    }
  } catch (error) {
    if (error instanceof z.ZodError) return refuse(request, 'invalid-request', `${String(action)}: ${zodReason(error)}`);
    throw error;
  }
}
