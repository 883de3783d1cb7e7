import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { filter, map, type Subscription } from 'rxjs';
import { aclAt, approvals, ConsoleError, decideApproval, explainForConsole, liveDecision, sessionDetail, sessionsWithContainers, whatIfForConsole, type LiveDecision } from '../../console/api';
import { InboundDropReason } from '../../events/inbound';
import { OutboundDropReason } from '../../events/outbound';
import { renderMetrics } from '../../console/metrics';
import type { Core } from '../../core';
import { packageRoot } from '../../db/package-root';
import type { Logger } from '../../logger';

export interface ConsoleOptions {
  port: number;
  /** Asked of every request when set; without one the console is for this machine only. */
  token?: string;
  /** Whether approvals may be decided here: false when the data dir is opened read-only. */
  writable: boolean;
  /** The actor of the console's decisions: `operator:<name>`. */
  actor: string;
  logger?: Logger;
}

const COOKIE = 'switchyard_console';
const ASSETS: Record<string, string> = { '/': 'index.html', '/console.js': 'console.js', '/console.css': 'console.css' };
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };
const READ_ONLY =
  'this console is read-only: it was started with `switchyard console` against a data directory whose host is down; decide with `switchyard approvals approve|reject <id>`, or use the console of `switchyard start --console-port`';

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
const cookieToken = (req: IncomingMessage) =>
  (req.headers.cookie ?? '').split(';').map((part) => part.trim().split('=')).find(([name]) => name === COOKIE)?.[1];

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  // A cross-site form can post text/plain without asking first; JSON needs a preflight this server never grants.
  if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new ConsoleError(415, 'send the decision as application/json');
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new ConsoleError(400, 'the body must be a JSON object');
}

/**
 * The web console: the pages (files in the package's console/ folder), a JSON API over the
 * same projections the CLI reads, the Live stream (server-sent events from the log
 * subscription) and /metrics. It listens on 127.0.0.1 only; the token guards it from the
 * other users and web pages of this machine.
 */
export class ConsoleServer {
  private server: Server | undefined;
  private readonly streams = new Set<Subscription>();
  private readonly assets = join(packageRoot(__dirname), 'console');

  constructor(
    private readonly core: Core,
    private readonly options: ConsoleOptions,
  ) {}

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (error instanceof ConsoleError) return send(res, error.status, { error: error.message });
        this.options.logger?.error({ event: 'ConsoleRequestFailed', err: error, url: req.url }, 'console request failed');
        if (!res.headersSent) send(res, 500, { error: 'internal error (see the host log)' });
        else res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.options.logger?.info({ event: 'ConsoleListening', url: this.url(), token: this.options.token !== undefined, writable: this.options.writable }, 'web console listening');
  }

  url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/`;
  }

  /** The line `start` and `console` print: where, and who may use it. */
  describe(): string {
    const access = this.options.token ? 'SWITCHYARD_CONSOLE_TOKEN required (Bearer header, or ?token= once)' : 'no SWITCHYARD_CONSOLE_TOKEN set: loopback only, anyone on this machine can use it';
    return `web console on ${this.url()} (${access}${this.options.writable ? '' : '; read-only'})`;
  }

  async stop(): Promise<void> {
    for (const stream of this.streams) stream.unsubscribe();
    this.streams.clear();
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private authorized(req: IncomingMessage, url: URL, res: ServerResponse): boolean {
    const { token } = this.options;
    if (token === undefined) return true;
    const header = req.headers.authorization;
    if (header !== undefined && same(header, `Bearer ${token}`)) return true;
    const cookie = cookieToken(req);
    if (cookie !== undefined && same(decodeURIComponent(cookie), token)) return true;
    const given = url.searchParams.get('token');
    if (given !== null && same(given, token) && req.method === 'GET') {
      // The token leaves the address bar (and the history) at once; the cookie carries it from here.
      url.searchParams.delete('token');
      res.writeHead(303, {
        location: url.pathname + url.search,
        'set-cookie': `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
      });
      res.end();
      return false;
    }
    send(res, 401, { error: 'this console asks for SWITCHYARD_CONSOLE_TOKEN: send it as a Bearer header, or open the console once with ?token=<token>' });
    return false;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    // A page elsewhere could point a name of its own at 127.0.0.1 (DNS rebinding): only loopback names are served.
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (!['127.0.0.1', 'localhost'].includes(host)) return send(res, 421, { error: `not served under the name ${host}` });
    if (!this.authorized(req, url, res)) return;
    const path = url.pathname;
    const asset = ASSETS[path];
    if (req.method === 'GET' && asset) return send(res, 200, readFileSync(join(this.assets, asset), 'utf8'), TYPES[asset.split('.').pop()!]);
    if (req.method === 'GET' && path === '/metrics') return send(res, 200, renderMetrics(this.core), 'text/plain; version=0.0.4; charset=utf-8');
    if (req.method === 'GET' && path === '/api/live') return this.live(req, res, url);
    if (req.method === 'GET' && path === '/api/what-if') return send(res, 200, await whatIfForConsole(this.core, url.searchParams));
    const approval = /^\/api\/approvals\/([^/]+)\/(approve|reject)$/.exec(path);
    if (req.method === 'POST' && approval) {
      const body = await jsonBody(req);
      if (!this.options.writable) throw new ConsoleError(403, READ_ONLY);
      const reason = typeof body.reason === 'string' && body.reason.trim() !== '' ? body.reason.trim() : null;
      return send(res, 200, decideApproval(this.core, decodeURIComponent(approval[1]!), approval[2] as 'approve' | 'reject', reason, this.options.actor));
    }
    if (req.method !== 'GET') throw new ConsoleError(405, `${req.method ?? '?'} ${path} is not served`);
    return send(res, 200, this.read(path, url));
  }

  private read(path: string, url: URL): unknown {
    const { core } = this;
    if (path === '/api/overview') {
      return {
        position: core.store.lastPosition(),
        writable: this.options.writable,
        actor: this.options.actor,
        agentGroups: core.views.agentGroups.list().map(({ id, name }) => ({ id, name })),
        chats: core.views.messagingGroups.list().map(({ id, name, channel_type, platform_id }) => ({ id, name, channelType: channel_type, platformId: platform_id })),
        dropReasons: [...new Set([...InboundDropReason.options, ...OutboundDropReason.options])],
      };
    }
    const explain = /^\/api\/explain\/(.+)$/.exec(path);
    if (explain) return explainForConsole(core, decodeURIComponent(explain[1]!));
    const acl = /^\/api\/acl\/([^/]+)$/.exec(path);
    if (acl) {
      const at = url.searchParams.get('at');
      return aclAt(core, decodeURIComponent(acl[1]!), at === null || at === '' ? undefined : Number(at));
    }
    if (path === '/api/approvals') return approvals(core);
    if (path === '/api/sessions') return { sessions: sessionsWithContainers(core), quarantined: core.views.sessions.quarantined().length };
    const session = /^\/api\/sessions\/([^/]+)$/.exec(path);
    if (session) return sessionDetail(core, decodeURIComponent(session[1]!));
    throw new ConsoleError(404, `nothing at ${path}`);
  }

  /** Decisions as they commit, from the log subscription, filtered by agent group, chat, outcome and reason. */
  private live(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const wanted: Partial<Record<'agentGroupId' | 'messagingGroupId' | 'outcome' | 'reason', string>> = {};
    for (const [parameter, field] of [['agentGroup', 'agentGroupId'], ['chat', 'messagingGroupId'], ['outcome', 'outcome'], ['reason', 'reason']] as const) {
      const value = url.searchParams.get(parameter);
      if (value) wanted[field] = value;
    }
    const matches = (decision: LiveDecision) => Object.entries(wanted).every(([field, value]) => decision[field as keyof typeof wanted] === value);
    const after = Number(req.headers['last-event-id'] ?? url.searchParams.get('after') ?? this.core.store.lastPosition());
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`: decisions after #${after}\n\n`);
    const stream = this.core.store
      .subscribe({ after: Number.isInteger(after) ? after : this.core.store.lastPosition() })
      .pipe(
        map((event) => liveDecision(this.core, event)),
        filter((decision): decision is LiveDecision => decision !== undefined),
        filter(matches),
      )
      .subscribe({
        next: (decision) => res.write(`id: ${decision.position}\ndata: ${JSON.stringify(decision)}\n\n`),
        error: (error: unknown) => {
          this.options.logger?.error({ event: 'ConsoleStreamFailed', err: error }, 'console live stream failed');
          res.end();
        },
      });
    this.streams.add(stream);
    req.on('close', () => {
      stream.unsubscribe();
      this.streams.delete(stream);
    });
  }
}
