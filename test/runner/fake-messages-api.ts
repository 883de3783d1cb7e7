import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Anthropic from '@anthropic-ai/sdk';

export interface ApiRequest {
  url: string | undefined;
  headers: IncomingMessage['headers'];
  body: { model: string; system: string; messages: Anthropic.MessageParam[]; tools?: Anthropic.Tool[] };
}

let ids = 0;
const message = (content: unknown[], stopReason: string) => ({
  id: `msg_${++ids}`,
  type: 'message',
  role: 'assistant',
  model: 'claude-test',
  content,
  stop_reason: stopReason,
  stop_sequence: null,
  usage: { input_tokens: 1, output_tokens: 1 },
});

/** A final answer: text only. */
export const answer = (text: string) => message([{ type: 'text', text }], 'end_turn');

/** A response that calls tools, each given as [name, input]. */
export const toolUse = (...calls: Array<[string, Record<string, unknown>]>) =>
  message(calls.map(([name, input]) => ({ type: 'tool_use', id: `toolu_${++ids}`, name, input })), 'tool_use');

/**
 * A loopback server speaking the Messages API: it records every request, and answers as
 * the test says. Registers its own hooks: one server per file, reset before each test.
 */
export function useFakeMessagesApi() {
  let server: Server;
  const api = {
    requests: [] as ApiRequest[],
    /** How the server answers the next request; a test may hold the response to act while the call is open. */
    respond: (_request: ApiRequest, _response: ServerResponse): void => undefined,
    url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    reply(response: ServerResponse, status: number, body: unknown): void {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    },
    /** Answers the next requests with these bodies in order, then with a final answer that sends nothing. */
    script(...bodies: unknown[]): void {
      api.respond = (_request, response) => api.reply(response, 200, bodies.shift() ?? answer('<internal>nothing more to do</internal>'));
    },
  };

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const recorded = { url: request.url, headers: request.headers, body: JSON.parse(body) as ApiRequest['body'] };
        api.requests.push(recorded);
        api.respond(recorded, response);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    api.requests = [];
    api.script(answer('<message to="family">hi</message>'));
  });
  return api;
}
