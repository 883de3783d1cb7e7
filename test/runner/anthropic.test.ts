import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitUntil } from '../support/wait';
import { useRunnerSession } from './harness';

interface Request {
  url: string | undefined;
  headers: IncomingMessage['headers'];
  body: { model: string; system: string; messages: Array<{ role: string; content: string }> };
}

const answer = (text: string) => ({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-test',
  content: [{ type: 'text', text }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 1, output_tokens: 1 },
});

/** The anthropic provider against a loopback server speaking the Messages API. */
describe('agent runner with the anthropic provider', () => {
  const session = useRunnerSession();
  const { receive, rows, acks } = session;
  let server: Server;
  let requests: Request[] = [];
  /** How the server answers the next request; a test may hold the response to act while the call is open. */
  let respond: (request: Request, response: ServerResponse) => void;
  const reply = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const recorded = { url: request.url, headers: request.headers, body: JSON.parse(body) as Request['body'] };
        requests.push(recorded);
        respond(recorded, response);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    requests = [];
    respond = (_request, response) => reply(response, 200, answer('<message to="family">hi</message>'));
  });

  const start = (env: Record<string, string> = {}) =>
    session.start({
      SWITCHYARD_AGENT_PROVIDER: 'anthropic',
      ANTHROPIC_API_KEY: 'sk-test',
      ANTHROPIC_BASE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      ...env,
    });

  it('sends the destinations in the system prompt and the attributed message, with the key; writes the answer', async () => {
    respond = (_request, response) => reply(response, 200, answer('Let me answer.<message to="family">hi</message>'));
    receive('m-1', { text: 'who are you?' }, { threadId: 't-1' });
    start({ SWITCHYARD_ANTHROPIC_MODEL: 'claude-test-model' });
    await waitUntil(() => acks()['m-1'] === 'completed', `m-1 answered\n${session.stderr}`);
    const [request] = requests;
    expect(request!.url).toBe('/v1/messages');
    expect(request!.headers['x-api-key']).toBe('sk-test');
    expect(request!.body.model).toBe('claude-test-model');
    expect(request!.body.system).toContain('You are Andy');
    expect(request!.body.system).toContain('- "family" (Family, a telegram chat)');
    expect(request!.body.system).toContain('- "research" (Research, an agent)');
    expect(request!.body.system).toContain('<message to="name">');
    expect(request!.body.messages).toEqual([{ role: 'user', content: '<message from="family" kind="chat">who are you?</message>' }]);
    expect(rows()).toEqual([
      expect.objectContaining({ seq: 1, in_reply_to: 'm-1', channel_type: 'telegram', platform_id: '-1001', thread_id: 't-1', content: JSON.stringify({ text: 'hi' }) }),
    ]);
    await waitUntil(() => session.events('Scratchpad').some((e) => e.text === 'Let me answer.'), 'the untagged text logged');
  });

  it('marks the message failed when the API refuses, and carries on with the next one', async () => {
    respond = (_request, response) => {
      respond = (_next, ok) => reply(ok, 200, answer('<message to="family">second</message>'));
      reply(response, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'bad request, on purpose' } });
    };
    receive('m-1', { text: 'first' });
    receive('m-2', { text: 'second' });
    start();
    await waitUntil(() => acks()['m-2'] === 'completed', `m-2 answered\n${session.stderr}`);
    expect(acks()['m-1']).toBe('failed');
    expect(rows()).toEqual([expect.objectContaining({ in_reply_to: 'm-2', content: JSON.stringify({ text: 'second' }) })]);
    await waitUntil(() => session.events('MessageFailed').some((e) => e.messageId === 'm-1' && String(e.error).includes('bad request, on purpose')), 'the failure logged');
  });

  it('finishes the message in hand on SIGTERM, then exits 0', async () => {
    let release: (() => void) | undefined;
    respond = (_request, response) => (release = () => reply(response, 200, answer('<message to="family">late but sent</message>')));
    receive('m-1', { text: 'take your time' });
    receive('m-2', { text: 'never taken: the runner is stopping' });
    const child = start();
    await waitUntil(() => release !== undefined, `the model call open\n${session.stderr}`);
    child.kill('SIGTERM');
    // Answered only once the runner has seen the signal: it must finish this message, and take no other.
    await waitUntil(() => session.events('StopRequested').length === 1, `the signal seen\n${session.stderr}`);
    expect(child.exitCode).toBeNull();
    release!();
    expect(await session.exited()).toBe(0);
    expect(acks()).toEqual({ 'm-1': 'completed' });
    expect(rows()).toEqual([expect.objectContaining({ in_reply_to: 'm-1', content: JSON.stringify({ text: 'late but sent' }) })]);
    expect(requests).toHaveLength(1);
  });

  it('refuses to start without a key', async () => {
    start({ ANTHROPIC_API_KEY: '' });
    expect(await session.exited()).toBe(1);
    expect(session.events('RunnerFailed')[0]!.error).toContain('ANTHROPIC_API_KEY');
  });
});
