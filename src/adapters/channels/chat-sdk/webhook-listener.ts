import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../../logger';
import type { ChannelSetup } from '../channel';
import { readLimitedBody, reportClientConnections } from '../http-body';

/**
 * The one HTTP listener for every Chat SDK platform that takes webhooks (Telegram in
 * webhook mode, Slack's Events API, Discord's interactions): node:http in, a Fetch
 * `Request` to the platform's handler, its `Response` back out. Each platform has its own
 * path; the platform's signature or secret-token check is its SDK adapter's. Loopback by
 * default: a reverse proxy with TLS is what the platforms reach.
 */

/** Platform webhooks are small JSON or form bodies; files travel by reference. */
const MAX_BODY_BYTES = 1024 * 1024;

export type WebhookHandler = (request: Request) => Promise<Response>;

export class PlatformWebhookListener {
  private server: Server | undefined;
  private readonly routes = new Map<string, WebhookHandler>();

  constructor(
    private readonly listen: { host?: string; port: number },
    private readonly logger?: Logger,
  ) {}

  /** Routes POSTs to `path` to the handler; before start. */
  route(path: string, handler: WebhookHandler): void {
    if (this.routes.has(path)) throw new Error(`two platforms want the webhook path ${path}`);
    this.routes.set(path, handler);
  }

  /** Starts listening; the host is told of each platform connection (see ChannelSetup.onClientConnected). */
  async start(setup: Pick<ChannelSetup, 'onClientConnected'> = {}): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    reportClientConnections(server, setup);
    const { host = '127.0.0.1', port } = this.listen;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.logger?.info({ event: 'PlatformWebhooksListening', url: this.url(), paths: [...this.routes.keys()] }, 'platform webhooks listening');
  }

  url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('the platform webhook listener is not started');
    return `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const handler = this.routes.get(url.pathname);
      if (!handler) return answer(res, 404, { error: `no platform webhook at ${url.pathname}` });
      if (req.method !== 'POST') return answer(res, 405, { error: `${req.method} not allowed on ${url.pathname}` });
      const body = await readLimitedBody(req, MAX_BODY_BYTES);
      if (body === undefined) return answer(res, 413, { error: `body over ${MAX_BODY_BYTES} bytes` });
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      const response = await handler(new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, { method: 'POST', headers, body }));
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
    } catch (error) {
      this.logger?.error({ err: error, event: 'PlatformWebhookFailed', path: req.url }, 'platform webhook failed');
      if (!res.headersSent) answer(res, 500, { error: 'internal error' });
      else res.destroy();
    }
  }
}

function answer(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}
