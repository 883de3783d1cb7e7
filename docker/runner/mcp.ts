import type Anthropic from '@anthropic-ai/sdk';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { errorText, log } from './log';
import type { ToolOutcome } from './tools';

/** One approved server as the host passes it in NANOCLAW_MCP_SERVERS (the reference's contract). */
interface ServerConfig {
  command: string;
  args: string[];
  env: Record<string, string>;
}

const PREFIX = 'mcp__';
/** The Messages API's pattern for a tool name. */
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,128}$/;
const STDERR_TAIL = 2000;

/** A text with each of these values masked. */
const masked = (secrets: readonly string[], text: string): string => secrets.reduce((result, secret) => result.split(secret).join('***'), text);

const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');
const isStringMap = (value: unknown): value is Record<string, string> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((item) => typeof item === 'string');

/** The servers of NANOCLAW_MCP_SERVERS; an entry of the wrong shape is logged and left out. */
function parseServers(json: string | undefined): Map<string, ServerConfig> {
  const servers = new Map<string, ServerConfig>();
  if (!json) return servers;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    log('MCPServersUnreadable', { error: errorText(error) });
    return servers;
  }
  for (const [name, value] of Object.entries(typeof parsed === 'object' && parsed !== null ? parsed : {})) {
    const { command, args = [], env = {} } = (value ?? {}) as Record<string, unknown>;
    if (typeof command !== 'string' || !isStrings(args) || !isStringMap(env)) log('MCPServerFailed', { server: name, error: 'expected {command, args: [strings], env: {name: string}}' });
    else servers.set(name, { command, args, env });
  }
  return servers;
}

/** A tool call's content as the model reads it: the text blocks, and what else there was by its type. */
const resultText = (content: unknown): string =>
  (Array.isArray(content) ? content : [])
    .map((block: { type?: string; text?: unknown }) => (block.type === 'text' && typeof block.text === 'string' ? block.text : `[${block.type ?? 'unknown'} content]`))
    .join('\n');

interface Connected {
  server: string;
  client: Client;
  /** The server's own names for its tools, by the name the model calls them. */
  tools: Map<string, string>;
}

/**
 * The approved MCP servers of this agent group, started once when the runner starts (the
 * host restarts the agent after an approval, so a new server means a new runner). Each runs
 * with its own env plus PATH and HOME, never the runner's (its API key stays here). A server
 * that does not start or list its tools is logged with its stderr tail and left out: the
 * agent works without it.
 */
export class McpServers {
  private constructor(
    private readonly connected: Connected[],
    /** Every server's env values, kept out of whatever the runner logs. */
    private readonly secrets: string[],
    readonly tools: Anthropic.Tool[],
  ) {}

  static async start(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<McpServers> {
    const servers = parseServers(env.NANOCLAW_MCP_SERVERS);
    const secrets = [...servers.values()].flatMap((server) => Object.values(server.env)).filter((value) => value.length > 0);
    const base = Object.fromEntries((['PATH', 'HOME'] as const).flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]!]])));
    const started = await Promise.all(
      [...servers].map(async ([server, config]): Promise<{ connected: Connected; tools: Anthropic.Tool[] } | undefined> => {
        const transport = new StdioClientTransport({ command: config.command, args: config.args, env: { ...base, ...config.env }, stderr: 'pipe' });
        let stderr = '';
        transport.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-STDERR_TAIL)));
        const client = new Client({ name: 'switchyard-runner', version: '1.0.0' });
        try {
          await client.connect(transport, { timeout: timeoutMs });
          const listed = await client.listTools(undefined, { timeout: timeoutMs });
          const tools = new Map<string, string>();
          const offered: Anthropic.Tool[] = [];
          for (const tool of listed.tools) {
            const name = `${PREFIX}${server}__${tool.name}`;
            if (!TOOL_NAME.test(name)) {
              log('MCPToolSkipped', { server, tool: tool.name, reason: 'not a name the Messages API takes' });
              continue;
            }
            tools.set(name, tool.name);
            offered.push({ name, description: tool.description ?? `${tool.name} (MCP server ${server})`, input_schema: tool.inputSchema as Anthropic.Tool.InputSchema });
          }
          log('MCPServerStarted', { server, command: config.command, tools: [...tools.keys()] });
          return { connected: { server, client, tools }, tools: offered };
        } catch (error) {
          await client.close().catch(() => undefined);
          log('MCPServerFailed', { server, command: config.command, error: masked(secrets, errorText(error)), stderrTail: masked(secrets, stderr) });
          return undefined;
        }
      }),
    );
    const ok = started.filter((entry) => entry !== undefined);
    return new McpServers(
      ok.map((entry) => entry.connected),
      secrets,
      ok.flatMap((entry) => entry.tools),
    );
  }

  owns(name: string): boolean {
    return this.connected.some((server) => server.tools.has(name));
  }

  /** The tool's text content as the result, an error result when the server says isError or the call fails. */
  async call(name: string, input: unknown): Promise<ToolOutcome> {
    const server = this.connected.find((candidate) => candidate.tools.has(name));
    if (!server) return { text: `no tool named ${name}`, isError: true };
    try {
      const result = await server.client.callTool({ name: server.tools.get(name)!, arguments: typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {} });
      return { text: resultText(result.content), isError: result.isError === true };
    } catch (error) {
      return { text: `${name} failed: ${errorText(error)}`, isError: true };
    }
  }

  /** What may be logged of a text: any server's env value masked. */
  redact(text: string): string {
    return masked(this.secrets, text);
  }

  async close(): Promise<void> {
    await Promise.all(this.connected.map((server) => server.client.close().catch((error: unknown) => log('MCPServerCloseFailed', { server: server.server, error: errorText(error) }))));
  }
}
