import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a fake platform API received, with its body decoded as the platform's client sent it. */
export interface ApiCall {
  method: string;
  /** The path without the query string, e.g. `/api/chat.postMessage` or `/channels/c1/messages`. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** JSON and form bodies decoded to an object; multipart and other bodies as raw bytes. */
  body: unknown;
  raw: Buffer;
}

/** What a route answers: a status (200 when left out), a JSON body (a Buffer goes out as it is), extra headers. */
export interface ApiAnswer {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type ApiRoute = (call: ApiCall) => ApiAnswer | Promise<ApiAnswer>;

/** A scheduled answer for the next calls matching a path: a platform error or a rate limit. */
interface Fault {
  matches: (call: ApiCall) => boolean;
  answer: ApiAnswer;
}

interface Waiter {
  matches: (call: ApiCall) => boolean;
  count: number;
  resolve: (calls: ApiCall[]) => void;
}

/**
 * The loopback HTTP server under the fake Slack and Discord APIs: records every call,
 * routes it by `METHOD path` to the platform's handler, and serves scheduled faults first
 * (a 429 with Retry-After, a 5xx) so a test can make the platform refuse exactly the next calls.
 */
export class FakeApiServer {
  readonly calls: ApiCall[] = [];
  private readonly faults: Fault[] = [];
  private waiters: Waiter[] = [];

  private constructor(
    private readonly server: Server,
    private readonly route: (call: ApiCall) => ApiRoute | undefined,
  ) {}

  static async start(route: (call: ApiCall) => ApiRoute | undefined): Promise<FakeApiServer> {
    let api: FakeApiServer | undefined;
    const server = createServer((req, res) => api!.handle(req, res).catch(() => res.destroy()));
    api = new FakeApiServer(server, route);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return api;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The next `count` calls whose path matches are answered with `answer` instead of their route. */
  failNext(count: number, path: RegExp, answer: ApiAnswer): void {
    for (let i = 0; i < count; i++) this.faults.push({ matches: (call) => path.test(call.path), answer });
  }

  /** Calls whose path matches, in order. */
  callsTo(path: RegExp): ApiCall[] {
    return this.calls.filter((call) => path.test(call.path));
  }

  /** Resolves with the matching calls once there are `count` of them; the timeout turns a hang into a readable failure. */
  waitForCalls(path: RegExp, count = 1, ms = 15_000): Promise<ApiCall[]> {
    const matches = (call: ApiCall) => path.test(call.path);
    const seen = this.calls.filter(matches);
    if (seen.length >= count) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== entry);
        const paths = this.calls.map((call) => `${call.method} ${call.path}`).join(', ') || 'none';
        reject(new Error(`fake API: ${this.calls.filter(matches).length} of ${count} calls to ${path} after ${ms} ms (calls: ${paths})`));
      }, ms);
      const entry: Waiter = {
        matches,
        count,
        resolve: (calls) => {
          clearTimeout(timer);
          resolve(calls);
        },
      };
      this.waiters.push(entry);
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', this.origin);
    const call: ApiCall = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: decodeBody(req.headers['content-type'], raw),
      raw,
    };
    this.calls.push(call);
    const faultIndex = this.faults.findIndex((fault) => fault.matches(call));
    const answer =
      faultIndex >= 0
        ? this.faults.splice(faultIndex, 1)[0]!.answer
        : await (this.route(call) ?? notFound)(call);
    res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers });
    res.end(answer.body === undefined ? '' : Buffer.isBuffer(answer.body) ? answer.body : JSON.stringify(answer.body));
    this.settleWaiters();
  }

  private settleWaiters(): void {
    this.waiters = this.waiters.filter((waiter) => {
      const matching = this.calls.filter(waiter.matches);
      if (matching.length < waiter.count) return true;
      waiter.resolve(matching);
      return false;
    });
  }
}

const notFound: ApiRoute = (call) => ({ status: 404, body: { error: `no such endpoint: ${call.method} ${call.path}` } });

function decodeBody(contentType: string | undefined, raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  if (contentType?.includes('application/json')) return JSON.parse(raw.toString('utf8'));
  if (contentType?.includes('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  }
  return raw;
}

/** A multipart body's text fields and files, decoded as a platform's server would. */
export async function decodeMultipart(call: ApiCall): Promise<{ fields: Map<string, string>; files: { field: string; filename: string; data: Buffer }[] }> {
  const form = await new Response(call.raw, { headers: { 'content-type': String(call.headers['content-type']) } }).formData();
  const fields = new Map<string, string>();
  const files: { field: string; filename: string; data: Buffer }[] = [];
  for (const [field, value] of form.entries()) {
    if (typeof value === 'string') fields.set(field, value);
    else files.push({ field, filename: value.name, data: Buffer.from(await value.arrayBuffer()) });
  }
  return { fields, files };
}

export function isMultipart(call: ApiCall): boolean {
  return String(call.headers['content-type'] ?? '').startsWith('multipart/form-data');
}
