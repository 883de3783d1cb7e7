import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { History } from '../history';
import { log } from '../log';
import { McpServers } from '../mcp';
import { TOOL_HINTS, Toolbox, type ToolContext } from '../tools';
import { formatTurn, type Provider, type Turn } from './index';

const DEFAULT_MODEL = 'claude-sonnet-4-5';
/** The runner's own file in the session folder; the host never reads it. */
const HISTORY_FILE = '.switchyard-history.jsonl';

const positive = (value: string | undefined, fallback: number): number => {
  const number = Number(value);
  return Number.isInteger(number) && number > 0 ? number : fallback;
};

/** A question_response row's content (spec §2), or undefined if the text is not one. */
function questionResponse(text: string): { questionId: string; selectedOption: string; userId: string } | undefined {
  try {
    const content = JSON.parse(text) as Record<string, unknown>;
    if (content.type !== 'question_response' || typeof content.questionId !== 'string') return undefined;
    return { questionId: content.questionId, selectedOption: String(content.selectedOption ?? ''), userId: String(content.userId ?? 'someone') };
  } catch {
    return undefined;
  }
}

/** A response's blocks as they go back to the model: its text (the API refuses empty text blocks) and its tool calls. */
const asParams = (content: Anthropic.ContentBlock[]): Anthropic.ContentBlockParam[] =>
  content.flatMap((block): Anthropic.ContentBlockParam[] => {
    if (block.type === 'text') return block.text === '' ? [] : [{ type: 'text', text: block.text }];
    if (block.type === 'tool_use') return [{ type: 'tool_use', id: block.id, name: block.name, input: block.input }];
    return [];
  });

/**
 * Claude through the official SDK, as an agent: it keeps the session's conversation (in
 * its history file, so a restart continues it), and calls tools that write the rows of
 * what agents do (spec §9) in a loop bounded per message. The key and the model come from
 * the environment; the SDK itself reads ANTHROPIC_BASE_URL (a proxy, or the tests'
 * loopback server).
 */
export class AnthropicProvider implements Provider {
  private readonly client: Anthropic;
  private readonly model: string;
  private readonly basePrompt: string;
  private readonly instructionsPath: string;
  private readonly toolbox: Toolbox;
  private readonly maxToolRounds: number;
  private readonly history: History;
  private readonly mcpStartTimeoutMs: number;
  /** The approved MCP servers' tools, from start() on. */
  private mcp: McpServers | undefined;

  constructor(private readonly env: NodeJS.ProcessEnv) {
    // Checked here so a missing key stops the runner at start, not on every message.
    if (!env.ANTHROPIC_API_KEY) throw new Error('the anthropic provider needs ANTHROPIC_API_KEY');
    this.client = new Anthropic({ apiKey: env.ANTHROPIC_API_KEY });
    this.model = env.SWITCHYARD_ANTHROPIC_MODEL || DEFAULT_MODEL;
    const name = env.NANOCLAW_ASSISTANT_NAME || env.NANOCLAW_AGENT_GROUP_NAME;
    this.basePrompt = `You are ${name ? `${name}, ` : ''}an assistant agent living in a container. People and other agents write to you; you answer them with messages.`;
    // Set for every agent; main.ts has already refused to start without it.
    const sessionDir = dirname(env.SESSION_INBOUND_DB_PATH!);
    // The group folder: the process runtime names it; in a container it is mounted at /workspace/agent.
    this.instructionsPath = join(env.SWITCHYARD_AGENT_DIR || join(sessionDir, 'agent'), 'CLAUDE.md');
    this.toolbox = new Toolbox(env.NANOCLAW_IS_ADMIN === '1');
    this.maxToolRounds = positive(env.SWITCHYARD_AGENT_MAX_TOOL_ROUNDS, 8);
    this.mcpStartTimeoutMs = positive(env.SWITCHYARD_MCP_START_TIMEOUT_MS, 30_000);
    this.history = new History(join(sessionDir, HISTORY_FILE), {
      turns: positive(env.SWITCHYARD_HISTORY_MAX_TURNS, 50),
      chars: positive(env.SWITCHYARD_HISTORY_MAX_CHARS, 200_000),
    });
  }

  async start(): Promise<void> {
    this.mcp = await McpServers.start(this.env, this.mcpStartTimeoutMs);
  }

  async close(): Promise<void> {
    await this.mcp?.close();
  }

  /** Built per message: the map may have been reloaded, and the instructions rewritten, since the last one. */
  private systemPrompt(context: ToolContext): string {
    let instructions = '';
    try {
      instructions = readFileSync(this.instructionsPath, 'utf8').trim();
    } catch {
      // No instructions for this group: the base prompt stands alone.
    }
    return [this.basePrompt, instructions, context.destinations.promptAddendum(), TOOL_HINTS].filter((part) => part !== '').join('\n\n');
  }

  /** The message as the model reads it; an answer to one of its questions, with the question when still remembered. */
  private userText(turn: Turn): string {
    const answer = turn.kind === 'system' ? questionResponse(turn.text) : undefined;
    if (!answer) return formatTurn(turn);
    const question = this.history.question(answer.questionId);
    const asked = question === undefined ? `your question ${answer.questionId}` : `your question ${answer.questionId} ("${question}")`;
    return formatTurn({ ...turn, text: `${answer.userId} answered ${asked}: ${answer.selectedOption}` });
  }

  async respond(turn: Turn, context: ToolContext): Promise<string> {
    const system = this.systemPrompt(context);
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: this.userText(turn) }];
    const questions: Record<string, string> = {};
    const said: string[] = [];
    for (let round = 1; ; round++) {
      const response = await this.client.messages.create({ model: this.model, max_tokens: 4096, system, tools: [...this.toolbox.tools, ...(this.mcp?.tools ?? [])], messages: [...this.history.messages(), ...messages] });
      const content = asParams(response.content);
      // The API refuses an empty assistant turn when the conversation is sent again.
      messages.push({ role: 'assistant', content: content.length > 0 ? content : [{ type: 'text', text: '(nothing)' }] });
      said.push(...response.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])));
      const calls = response.content.filter((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use');
      if (calls.length === 0) break;
      if (round > this.maxToolRounds) {
        // Every tool_use still gets its tool_result, so the history stays a conversation the API accepts.
        log('ToolRoundsExhausted', { messageId: context.message.id, rounds: this.maxToolRounds, tools: calls.map((call) => call.name) });
        const refusal = `not run: at most ${this.maxToolRounds} rounds of tool calls per message`;
        messages.push({ role: 'user', content: calls.map((call) => ({ type: 'tool_result', tool_use_id: call.id, content: refusal, is_error: true })) });
        messages.push({ role: 'assistant', content: [{ type: 'text', text: `(stopped: ${refusal})` }] });
        break;
      }
      const results: Anthropic.ToolResultBlockParam[] = [];
      for (const call of calls) {
        const mcp = this.mcp?.owns(call.name) ? this.mcp : undefined;
        const outcome = mcp ? await mcp.call(call.name, call.input) : this.toolbox.run(call.name, call.input, context);
        if (outcome.asked) questions[outcome.asked.questionId] = outcome.asked.question;
        const logged = outcome.text.slice(0, 500);
        log('ToolCalled', { messageId: context.message.id, tool: call.name, isError: outcome.isError, result: mcp ? mcp.redact(logged) : logged });
        results.push({ type: 'tool_result', tool_use_id: call.id, content: outcome.text, ...(outcome.isError && { is_error: true }) });
      }
      messages.push({ role: 'user', content: results });
    }
    this.history.add({ messages, ...(Object.keys(questions).length > 0 && { questions }) });
    return said.join('\n');
  }
}
