import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SECRET_HEADER, type WebhookDelivery } from '../../src/adapters/channels/webhook';

/** Every request the platform saw, deliveries and typing notices, answered or not. */
export interface PlatformRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/**
 * What the next deliveries get instead of success: an error status (with a Retry-After, or
 * the platform going down right after answering), or no answer at all.
 */
type Fault = { status: number; retryAfter?: string; thenDown?: boolean } | { stall: true };

interface Waiter {
  count: number;
  resolve: (received: WebhookDelivery[]) => void;
}

/**
 * A chat platform bridge on loopback that speaks the webhook channel's protocol:
 * `POST /deliver` records the message and answers `{ id: 'pm-<n>' }`, `POST /deliver/typing`
 * records the notice. Faults can be scheduled for the next deliveries.
 */
export class FakePlatform {
  /** Bodies of the deliveries that succeeded, in order. */
  readonly received: WebhookDelivery[] = [];
  readonly typing: unknown[] = [];
  readonly requests: PlatformRequest[] = [];
  private readonly faults: Fault[] = [];
  /** Part ids the next successful deliveries answer with, as a bridge that split them. */
  private readonly splits: string[][] = [];
  private waiters: Waiter[] = [];
  private port = 0;

  private constructor(private readonly server: Server) {}

  static async start(): Promise<FakePlatform> {
    let platform: FakePlatform | undefined;
    // A sender that hangs up mid-request just loses its socket; the test sees it on the sender's side.
    const server = createServer((req, res) => platform!.handle(req, res).catch(() => res.destroy()));
    platform = new FakePlatform(server);
    await platform.up();
    return platform;
  }

  /** Listens (again, after going down: on the same port, so the host's deliver URL still points here). */
  async up(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** The `deliverUrl` to give a WebhookChannel. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/deliver`;
  }

  /** The secret header of every request, in order (undefined where it was missing). */
  get secrets(): (string | undefined)[] {
    return this.requests.map((request) => request.headers[SECRET_HEADER] as string | undefined);
  }

  /** The next `count` deliveries are answered with `status` and not recorded as received. */
  failNext(count: number, status: number): void {
    for (let i = 0; i < count; i++) this.faults.push({ status });
  }

  /** The next `count` deliveries are answered 429 with `Retry-After: <seconds>`. */
  rateLimitNext(count: number, retryAfterSeconds: number): void {
    for (let i = 0; i < count; i++) this.faults.push({ status: 429, retryAfter: String(retryAfterSeconds) });
  }

  /** The next delivery is answered `status`, and the platform stops listening as it answers: later calls are refused until `up()`. */
  failThenGoDown(status: number): void {
    this.faults.push({ status, thenDown: true });
  }

  /** The next successful delivery is answered `{ platformMessageIds: ids }`: the bridge split it into parts. */
  splitNext(ids: string[]): void {
    this.splits.push(ids);
  }

  /** The next `count` deliveries get no answer, until the platform closes: for sender timeouts. */
  stallNext(count: number): void {
    for (let i = 0; i < count; i++) this.faults.push({ stall: true });
  }

  /** Resolves when `count` deliveries were received; the timeout only turns a hang into a readable failure. */
  waitFor(count: number, ms = 10_000): Promise<WebhookDelivery[]> {
    if (this.received.length >= count) return Promise.resolve(this.received);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== entry);
        reject(new Error(`fake platform: ${this.received.length} of ${count} deliveries after ${ms} ms`));
      }, ms);
      const entry: Waiter = {
        count,
        resolve: (received) => {
          clearTimeout(timer);
          resolve(received);
        },
      };
      this.waiters.push(entry);
    });
  }

  /** Closes the server and every socket, stalled ones included. */
  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    return closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const body = await readJson(req);
    this.requests.push({ path, headers: req.headers, body });
    if (req.method !== 'POST') return answer(res, 405, { error: 'POST only' });
    if (path === '/deliver/typing') {
      this.typing.push(body);
      return answer(res, 204);
    }
    if (path !== '/deliver') return answer(res, 404, { error: `no route ${path}` });
    const fault = this.faults.shift();
    if (fault && 'stall' in fault) return;
    if (fault) {
      // Closed before the answer goes out, and that connection with it: the next call finds nobody listening.
      if (fault.thenDown) this.server.close();
      const headers = { ...(fault.retryAfter !== undefined && { 'retry-after': fault.retryAfter }), ...(fault.thenDown && { connection: 'close' }) };
      return answer(res, fault.status, { error: `injected failure ${fault.status}` }, headers);
    }
    this.received.push(body as WebhookDelivery);
    const parts = this.splits.shift();
    answer(res, 200, parts ? { platformMessageIds: parts } : { id: `pm-${this.received.length}` });
    this.notify();
  }

  private notify(): void {
    const ready = this.waiters.filter((waiter) => this.received.length >= waiter.count);
    this.waiters = this.waiters.filter((waiter) => this.received.length < waiter.count);
    for (const waiter of ready) waiter.resolve(this.received);
  }
}

/** POSTs `body` (JSON-encoded unless already a string) to a channel's `/messages`. */
export function postInbound(url: string, body: unknown, secret?: string): Promise<{ status: number; json: any }> {
  return postTo(`${url}/messages`, body, secret);
}

/** A click on a card, as a bridge reports it: POSTs `body` to a channel's `/actions`. */
export function postAction(url: string, body: unknown, secret?: string): Promise<{ status: number; json: any }> {
  return postTo(`${url}/actions`, body, secret);
}

/**
 * A new connection per request, closed after it: tests block their own event loop (a
 * spawnSync of the CLI), and a kept-alive socket the host times out meanwhile would be
 * reused by fetch just as it closes (ECONNRESET), a race of the test's making.
 */
function postTo(url: string, body: unknown, secret?: string): Promise<{ status: number; json: any }> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...(secret !== undefined ? { [SECRET_HEADER]: secret } : {}) } }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, json: text ? JSON.parse(text) : undefined }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(payload);
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}

function answer(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, body === undefined ? headers : { 'content-type': 'application/json', ...headers });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}
