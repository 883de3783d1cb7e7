import { randomUUID } from 'node:crypto';
import type Anthropic from '@anthropic-ai/sdk';
import type { DestinationMap } from './destinations';
import { rowTo } from './route';
import type { InboundMessage, OutboundRow } from './session';

/** What a tool call tells the model: at once, "submitted" or why nothing was written. */
export interface ToolOutcome {
  text: string;
  isError: boolean;
  /** An ask_question call's id and text, so that the answer can be shown with its question later. */
  asked?: { questionId: string; question: string };
}

/** What a tool acts on: the message being answered, the map it routes by, and outbound.db. */
export interface ToolContext {
  message: InboundMessage;
  destinations: DestinationMap;
  /** The sender's name in the map: where an unaddressed reaction, edit or question goes. */
  from: string | undefined;
  /** Writes one messages_out row (odd seq) and returns its id. */
  write(row: OutboundRow): string;
}

type Input = Record<string, unknown>;

/** A refusal from the runner's own checks: nothing is written. */
class InvalidInput extends Error {}

function text(input: Input, key: string): string;
function text(input: Input, key: string, optional: true): string | undefined;
function text(input: Input, key: string, optional = false): string | undefined {
  const value = input[key];
  if (value === undefined || value === null || value === '') {
    if (optional) return undefined;
    throw new InvalidInput(`${key} is required`);
  }
  if (typeof value !== 'string') throw new InvalidInput(`${key} must be a string`);
  return value;
}

function strings(input: Input, key: string): string[] {
  const value = input[key] ?? [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) throw new InvalidInput(`${key} must be an array of strings`);
  return value as string[];
}

const submitted = (what: string): ToolOutcome => ({ text: `submitted: ${what}`, isError: false });

/** A chat row to `to`, or to whoever sent the message being answered. */
function chatRow(context: ToolContext, to: string | undefined, content: Record<string, unknown>): ToolOutcome {
  const name = to ?? context.from;
  if (name === undefined) throw new InvalidInput('to is required: the message being answered has no sender in your destination map');
  const { row, known } = rowTo(context.message, name, content, context.destinations);
  const id = context.write(row);
  // Written all the same: the host decides every route, and records the refusal.
  if (!known) return { text: `submitted as ${id}, but "${name}" is not in your destination map: the host will refuse it`, isError: false };
  return submitted(`${id} to "${name}"`);
}

/** A system row (spec §5): the host carries the action out and tells this agent how it went. */
function systemRow(context: ToolContext, action: string, fields: Record<string, unknown>): string {
  return context.write({ kind: 'system', inReplyTo: context.message.id, channelType: null, platformId: null, threadId: null, content: { action, ...fields } });
}

// The host's patterns (src/commands/system-actions.ts), checked here too so the model hears
// at once which name is wrong; the host checks again whatever a runner did.
const VERSION = '[~^]?[0-9A-Za-z][0-9A-Za-z.+-]{0,63}';
const APT = new RegExp(`^[a-z0-9][a-z0-9.+-]*(=${VERSION})?$`);
const NPM = new RegExp(`^(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*(@${VERSION})?$`);
const MAX_PACKAGES = 20;

function checkPackages(apt: string[], npm: string[]): void {
  if (apt.length + npm.length === 0) throw new InvalidInput('name at least one package in apt or npm');
  if (apt.length + npm.length > MAX_PACKAGES) throw new InvalidInput(`at most ${MAX_PACKAGES} packages per request`);
  const bad = [...apt.filter((name) => name.length > 214 || !APT.test(name)).map((name) => `apt package ${JSON.stringify(name)}`), ...npm.filter((name) => name.length > 214 || !NPM.test(name)).map((name) => `npm package ${JSON.stringify(name)}`)];
  if (bad.length > 0) throw new InvalidInput(`${bad.join(', ')}: not a valid package name (lowercase letters, digits, ".", "+", "-"; npm may have an @scope/; either may pin a version)`);
}

// `YYYY-MM-DD HH:MM:SS` (UTC, the session databases' form) or ISO-8601 with a zone (spec §2).
const AGENT_TIME = /^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?$/i;

function checkTime(value: string): void {
  const utc = /(Z|[+-]\d\d:?\d\d)$/i.test(value) ? value : `${value}Z`;
  if (!AGENT_TIME.test(value) || !Number.isFinite(Date.parse(utc.replace(' ', 'T')))) throw new InvalidInput(`processAfter ${JSON.stringify(value)} is not a time: write YYYY-MM-DD HH:MM:SS in UTC`);
}

const object = (properties: Record<string, unknown>, required: string[]): Anthropic.Tool.InputSchema => ({ type: 'object', properties, required });
const STRING = { type: 'string' };
const TO = { type: 'string', description: 'a destination name; default: whoever sent the message you are answering' };
const TASK_ID = object({ taskId: { type: 'string', description: 'the id schedule_task returned' } }, ['taskId']);

interface ToolDefinition {
  tool: Anthropic.Tool;
  adminOnly?: boolean;
  run(input: Input, context: ToolContext): ToolOutcome;
}

const taskChange = (name: string, description: string): ToolDefinition => ({
  tool: { name, description, input_schema: TASK_ID },
  run: (input, context) => submitted(`${name} ${systemRow(context, name, { taskId: text(input, 'taskId') })}`),
});

/** The agent's tools (spec §9): each writes one messages_out row and returns at once. */
const TOOLS: ToolDefinition[] = [
  {
    tool: { name: 'send_message', description: 'Send a message to one of your destinations.', input_schema: object({ to: STRING, text: STRING }, ['to', 'text']) },
    run: (input, context) => chatRow(context, text(input, 'to'), { text: text(input, 'text') }),
  },
  {
    tool: { name: 'add_reaction', description: 'React with an emoji to a message, by the id you saw it with.', input_schema: object({ to: TO, messageId: STRING, emoji: STRING }, ['messageId', 'emoji']) },
    run: (input, context) => chatRow(context, text(input, 'to', true), { operation: 'reaction', messageId: text(input, 'messageId'), emoji: text(input, 'emoji') }),
  },
  {
    tool: { name: 'edit_message', description: 'Replace the text of a message you sent earlier, by its id.', input_schema: object({ to: TO, messageId: STRING, text: STRING }, ['messageId', 'text']) },
    run: (input, context) => chatRow(context, text(input, 'to', true), { operation: 'edit', messageId: text(input, 'messageId'), text: text(input, 'text') }),
  },
  {
    tool: {
      name: 'ask_question',
      description: 'Ask a chat a question with buttons; the answer comes back to you later as a message.',
      input_schema: object({ to: TO, question: STRING, options: { type: 'array', items: STRING, minItems: 1 } }, ['question', 'options']),
    },
    run: (input, context) => {
      const question = text(input, 'question');
      const options = strings(input, 'options');
      if (options.length === 0) throw new InvalidInput('options must name at least one answer');
      const questionId = `q-${randomUUID()}`;
      const outcome = chatRow(context, text(input, 'to', true), { type: 'ask_question', questionId, question, options });
      return { ...outcome, text: `${outcome.text}; question ${questionId}`, asked: { questionId, question } };
    },
  },
  {
    tool: {
      name: 'schedule_task',
      description: 'Have a prompt come back to you at a time (YYYY-MM-DD HH:MM:SS, UTC), and from then on by a cron expression (UTC) if recurrence is given.',
      input_schema: object({ prompt: STRING, processAfter: STRING, recurrence: { type: 'string', description: 'cron: "m h dom mon dow"' } }, ['prompt', 'processAfter']),
    },
    run: (input, context) => {
      const prompt = text(input, 'prompt');
      const processAfter = text(input, 'processAfter');
      checkTime(processAfter);
      const taskId = `task-${randomUUID()}`;
      const { message } = context;
      // The task answers where this message came from.
      const routing = { platformId: message.platform_id, channelType: message.channel_type, threadId: message.thread_id };
      systemRow(context, 'schedule_task', { taskId, prompt, script: null, processAfter, recurrence: text(input, 'recurrence', true) ?? null, ...routing });
      return submitted(`task ${taskId}`);
    },
  },
  taskChange('cancel_task', 'Cancel a scheduled task for good.'),
  taskChange('pause_task', 'Pause a scheduled task.'),
  taskChange('resume_task', 'Resume a paused task.'),
  {
    adminOnly: true,
    tool: {
      name: 'create_agent',
      description: 'Create a new agent with these instructions; you can then message it by its name, and it knows you as "parent".',
      input_schema: object({ name: STRING, instructions: STRING }, ['name', 'instructions']),
    },
    run: (input, context) => submitted(`create_agent ${systemRow(context, 'create_agent', { requestId: `req-${randomUUID()}`, name: text(input, 'name'), instructions: text(input, 'instructions') })}`),
  },
  {
    tool: {
      name: 'install_packages',
      description: 'Ask an admin to add apt or npm packages to your container (at most 20); once approved, request a rebuild.',
      input_schema: object({ apt: { type: 'array', items: STRING }, npm: { type: 'array', items: STRING }, reason: STRING }, ['reason']),
    },
    run: (input, context) => {
      const apt = strings(input, 'apt');
      const npm = strings(input, 'npm');
      checkPackages(apt, npm);
      return submitted(`install_packages ${systemRow(context, 'install_packages', { apt, npm, reason: text(input, 'reason', true) ?? '' })}, waiting for an admin's approval`);
    },
  },
  {
    tool: {
      name: 'add_mcp_server',
      description: "Ask an admin to add an MCP server to your container.",
      input_schema: object({ name: STRING, command: STRING, args: { type: 'array', items: STRING }, env: { type: 'object', additionalProperties: STRING } }, ['name', 'command']),
    },
    run: (input, context) => {
      const env = input.env ?? {};
      if (typeof env !== 'object' || env === null || Array.isArray(env) || Object.values(env).some((value) => typeof value !== 'string')) throw new InvalidInput('env must map names to strings');
      const fields = { name: text(input, 'name'), command: text(input, 'command'), args: strings(input, 'args'), env };
      return submitted(`add_mcp_server ${systemRow(context, 'add_mcp_server', fields)}, waiting for an admin's approval`);
    },
  },
  {
    tool: { name: 'request_rebuild', description: 'Ask an admin to rebuild your container with the packages approved so far.', input_schema: object({ reason: STRING }, ['reason']) },
    run: (input, context) => submitted(`request_rebuild ${systemRow(context, 'request_rebuild', { reason: text(input, 'reason', true) ?? '' })}, waiting for an admin's approval`),
  },
];

/** The tools this agent may call: create_agent only for an admin agent group (the host re-checks). */
export class Toolbox {
  private readonly definitions: ToolDefinition[];

  constructor(isAdmin: boolean) {
    this.definitions = TOOLS.filter((definition) => isAdmin || !definition.adminOnly);
  }

  get tools(): Anthropic.Tool[] {
    return this.definitions.map((definition) => definition.tool);
  }

  run(name: string, input: unknown, context: ToolContext): ToolOutcome {
    const definition = this.definitions.find((d) => d.tool.name === name);
    if (!definition) return { text: `no tool named ${name}`, isError: true };
    try {
      return definition.run(typeof input === 'object' && input !== null ? (input as Input) : {}, context);
    } catch (error) {
      if (error instanceof InvalidInput) return { text: `${name} not submitted: ${error.message}`, isError: true };
      throw error;
    }
  }
}

/** How to use the tools, for the system prompt. */
export const TOOL_HINTS = [
  'Your tools act at once and only say "submitted": what the host then does (an approval, a refusal, a created agent) comes back to you later as a message.',
  'send_message sends like a <message to> block does. add_reaction, edit_message and ask_question go to whoever wrote to you unless you name a destination.',
  'Times are UTC, written YYYY-MM-DD HH:MM:SS.',
].join('\n');
