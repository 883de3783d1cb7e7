import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { fixturePath } from '../fixtures/child';
import { waitUntil } from '../support/wait';
import { answer, toolUse, useFakeMessagesApi } from './fake-messages-api';
import { useRunnerSession } from './harness';

const SECRET = 'calc-secret-4d9f1e';
const toolResults = (message: Anthropic.MessageParam) => (message.content as Anthropic.ToolResultBlockParam[]).filter((block) => block.type === 'tool_result');

/** The built-in runner starting the group's approved MCP servers (NANOCLAW_MCP_SERVERS) and offering their tools to the model. */
describe('agent runner: MCP servers', () => {
  const session = useRunnerSession();
  const { receive, acks } = session;
  const api = useFakeMessagesApi();
  const calc = (env: Record<string, string> = {}) => ({ command: process.execPath, args: [fixturePath('mcp-calc')], env: { CALC_TOKEN: SECRET, ...env } });
  const start = (servers: Record<string, unknown>, env: Record<string, string> = {}) =>
    session.start({ SWITCHYARD_AGENT_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: 'sk-runner-key', ANTHROPIC_BASE_URL: api.url(), HOME: session.dir(), NANOCLAW_MCP_SERVERS: JSON.stringify(servers), ...env });
  const handled = (id: string) => waitUntil(() => acks()[id] === 'completed', `${id} handled\n${session.stderr}`);

  it('offers a server’s tools as mcp__<server>__<tool> with their schemas, and gives a call’s text back as the tool result', async () => {
    api.script(toolUse(['mcp__calc__add', { a: 2, b: 3 }], ['mcp__calc__fail', {}]), answer('<message to="family">2 + 3 = 5</message>'));
    receive('m-1', { text: 'what is 2 + 3?' });
    start({ calc: calc() });
    await handled('m-1');
    const offered = api.requests[0]!.body.tools!;
    expect(offered.map((tool) => tool.name)).toEqual(expect.arrayContaining(['send_message', 'mcp__calc__add', 'mcp__calc__fail', 'mcp__calc__env_names']));
    expect(offered.find((tool) => tool.name === 'mcp__calc__add')).toEqual(
      expect.objectContaining({ description: 'Add two numbers.', input_schema: expect.objectContaining({ type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] }) }),
    );
    const results = toolResults(api.requests[1]!.body.messages.at(-1)!);
    expect(results.map((r) => [r.content, r.is_error ?? false])).toEqual([['5', false], ['calc is broken', true]]);
    expect(session.events('MCPServerStarted')).toEqual([expect.objectContaining({ server: 'calc', tools: ['mcp__calc__add', 'mcp__calc__fail', 'mcp__calc__env_names'] })]);
    expect(session.events('ToolCalled').map((e) => [e.tool, e.isError])).toEqual([['mcp__calc__add', false], ['mcp__calc__fail', true]]);
  });

  it('starts a server with its own env plus PATH and HOME, never the runner’s key, and keeps its env values out of the logs', async () => {
    api.script(toolUse(['mcp__calc__env_names', {}]), answer(''));
    receive('m-1', { text: 'env?' });
    // A server that fails says its token on stderr: the logged tail masks it.
    start({ calc: calc(), broken: { command: process.execPath, args: ['-e', `process.stderr.write('token ${SECRET} rejected\\n'); process.exit(3)`], env: { CALC_TOKEN: SECRET } } });
    await handled('m-1');
    const names = JSON.parse(toolResults(api.requests[1]!.body.messages.at(-1)!)[0]!.content as string) as string[];
    expect(names).toContain('CALC_TOKEN');
    expect(names).toEqual(expect.arrayContaining(['PATH', 'HOME']));
    for (const leaked of ['ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL', 'NANOCLAW_MCP_SERVERS', 'SESSION_INBOUND_DB_PATH', 'SWITCHYARD_AGENT_PROVIDER']) expect(names).not.toContain(leaked);
    await waitUntil(() => session.events('MCPServerFailed').length > 0, 'the broken server logged');
    expect(session.events('MCPServerFailed')).toEqual([expect.objectContaining({ server: 'broken', stderrTail: expect.stringContaining('token *** rejected') })]);
    expect(session.stderr).not.toContain(SECRET);
  });

  it('skips a server whose command does not exist, with a log line, and the agent still answers with the others', async () => {
    api.script(toolUse(['mcp__calc__add', { a: 1, b: 1 }]), answer('<message to="family">2</message>'));
    receive('m-1', { text: '1 + 1?' });
    start({ ghost: { command: '/nonexistent/mcp-ghost', args: [], env: {} }, calc: calc() });
    await handled('m-1');
    expect(session.events('MCPServerFailed')).toEqual([expect.objectContaining({ server: 'ghost', command: '/nonexistent/mcp-ghost', error: expect.stringContaining('ENOENT') })]);
    expect(api.requests[0]!.body.tools!.map((tool) => tool.name).filter((name) => name.startsWith('mcp__'))).toEqual(['mcp__calc__add', 'mcp__calc__fail', 'mcp__calc__env_names']);
    expect(toolResults(api.requests[1]!.body.messages.at(-1)!)[0]!.content).toBe('2');
    expect(session.rows().map((row) => row.content)).toEqual([JSON.stringify({ text: '2' })]);
  });

  it('closes its servers when it stops', async () => {
    const pidFile = join(session.dir(), 'calc.pid');
    receive('m-1', { text: 'hi' });
    const runner = start({ calc: calc({ CALC_PID_FILE: pidFile }) });
    await handled('m-1');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(() => process.kill(pid, 0)).not.toThrow();
    runner.kill('SIGTERM');
    expect(await session.exited()).toBe(0);
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });

  it('runs as before with no servers, and the echo provider starts none', async () => {
    receive('m-1', { text: 'hi' });
    session.start({ SWITCHYARD_AGENT_PROVIDER: 'echo', NANOCLAW_MCP_SERVERS: JSON.stringify({ calc: calc() }) });
    await handled('m-1');
    expect(session.events('MCPServerStarted')).toEqual([]);
    expect(session.rows().map((row) => row.content)).toEqual([JSON.stringify({ text: 'echo: hi' })]);
  });
});
