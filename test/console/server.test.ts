import { request } from 'node:http';
import { ConsoleServer } from '../../src/adapters/console/server';
import { receiveInbound } from '../../src/commands/inbound';
import type { Core } from '../../src/core';
import { openCore, centralDatabasePath } from '../../src/core';
import { ApprovalDecided } from '../../src/events/admin';
import { addRestartsAndLoop, openConsoleScene } from '../support/console-scene';
import { useTempDir } from '../support/temp';
import { waitUntil } from '../support/wait';

const dir = useTempDir('switchyard-console-');
let core: Core;
let server: ConsoleServer;

async function serve(options: Partial<ConstructorParameters<typeof ConsoleServer>[1]> = {}, on = core): Promise<ConsoleServer> {
  const started = new ConsoleServer(on, { port: 0, writable: true, actor: 'operator:carol', ...options });
  await started.start();
  return started;
}

beforeEach(async () => {
  core = openConsoleScene(dir());
  server = await serve();
});
afterEach(async () => {
  await server.stop();
  core.close();
});

const get = (path: string, init?: RequestInit) => fetch(new URL(path, server.url()), init);
const post = (path: string, body: unknown) => get(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Parses the Prometheus text format: every line a comment or `name{labels} value`, samples by name and label set. */
function parseExposition(body: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const match = /^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+]+|\+Inf|NaN)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    samples.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
  }
  return samples;
}

describe('/metrics', () => {
  it('serves the routing, delivery, agent and log figures in Prometheus text format, scraped over HTTP', async () => {
    const response = await get('/metrics');
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const body = await response.text();
    const samples = parseExposition(body);
    for (const name of ['switchyard_messages_total', 'switchyard_deliveries_total', 'switchyard_agents_running', 'switchyard_log_position']) {
      expect(body).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge)$`, 'm'));
    }
    expect(body).toMatch(/^# TYPE switchyard_delivery_latency_seconds histogram$/m);
    const audit = core.store.db.prepare("SELECT count(*) FROM audit WHERE direction = 'inbound' AND outcome = 'routed'").pluck().get();
    expect(samples.get('switchyard_messages_total{direction="inbound",outcome="routed",reason=""}')).toBe(audit);
    expect(samples.get('switchyard_messages_total{direction="inbound",outcome="dropped",reason="no-agent-wired"}')).toBe(1);
    expect(samples.get('switchyard_messages_total{direction="outbound",outcome="delivered",reason=""}')).toBe(1);
    expect(samples.get('switchyard_deliveries_total{outcome="delivered"}')).toBe(1);
    expect(samples.get('switchyard_agents_running')).toBe(0);
    expect(samples.get('switchyard_log_position')).toBe(core.store.lastPosition());
    // The reply was delivered 0.3 s after it was routed.
    expect(samples.get('switchyard_delivery_latency_seconds_bucket{le="0.25"}')).toBe(0);
    expect(samples.get('switchyard_delivery_latency_seconds_bucket{le="0.5"}')).toBe(1);
    expect(samples.get('switchyard_delivery_latency_seconds_bucket{le="+Inf"}')).toBe(1);
    expect(samples.get('switchyard_delivery_latency_seconds_sum')).toBeCloseTo(0.3, 3);
    expect(samples.get('switchyard_delivery_latency_seconds_count')).toBe(1);
  });
});

describe('the console API', () => {
  it("tells a message's story with the ACL of each decision beside today's", async () => {
    const [story] = (await (await get('/api/explain/out-1')).json()) as { audit: { outcome: string }; text: string; steps: { summary: string }[]; aclToday: unknown[] }[];
    expect(story!.audit.outcome).toBe('delivered');
    expect(story!.text).toBe('pasta at 7');
    expect(story!.steps.map((s) => s.summary)).toEqual([expect.stringMatching(/^routed by destination/), 'delivery attempt 1', 'delivered (platform id tg-77)']);
    expect((await get('/api/explain/nope')).status).toBe(404);
  });

  it('answers the ACL at any position: the revoked row is granted before its revocation and shown revoked after it', async () => {
    const today = (await (await get('/api/acl/ag-andy')).json()) as { at: number; last: number; rows: { local_name: string; revoked_at: number | null; revoked_by: string | null }[] };
    const revoked = today.rows.find((r) => r.local_name === 'research-bot')!;
    expect(revoked.revoked_by).toBe('operator:alice');
    const before = (await (await get(`/api/acl/ag-andy?at=${revoked.revoked_at! - 1}`)).json()) as typeof today;
    expect(before.rows.find((r) => r.local_name === 'research-bot')!.revoked_at).toBeNull();
    expect((await get(`/api/acl/ag-andy?at=${today.last + 1}`)).status).toBe(400);
    expect((await get('/api/acl/ag-nope')).status).toBe(404);
  });

  it('answers what-if: the flips a proposed revocation causes, and names what a bad entry should look like', async () => {
    const before = core.store.lastPosition();
    const response = await get('/api/what-if?remove=ag-andy:family');
    expect(response.status).toBe(200);
    const report = (await response.json()) as { decisions: number; flips: { messageId: string; cause: string; proposed: { verdict: string } }[] };
    expect(report.flips).toEqual([expect.objectContaining({ messageId: 'out-1', cause: 'change', proposed: expect.objectContaining({ verdict: 'dropped: not-permitted' }) })]);
    const unwired = (await (await get('/api/what-if?unwire=mg-family:ag-andy')).json()) as typeof report;
    expect(unwired.flips).toEqual([expect.objectContaining({ type: 'InboundRouted', cause: 'change', proposed: expect.objectContaining({ verdict: 'dropped: no-agent-wired' }) })]);
    const answers = async (query: string) => {
      const answer = await get(`/api/what-if?${query}`);
      return [answer.status, ((await answer.json()) as { error: string }).error];
    };
    expect(await answers('remove=ag-andy')).toEqual([400, 'expected <agent-group>:<name>, got "ag-andy"']);
    expect(await answers('remove=ag-andy:nope')).toEqual([409, expect.stringContaining('RemoveDestination refused (no-such-destination)')]);
    expect(await answers('since=3')).toEqual([400, 'nothing to try: give add, remove, wire or unwire']);
    expect(await answers('remove=ag-andy:family&since=x')).toEqual([400, 'since: expected a log position, got "x"']);
    expect(core.store.lastPosition()).toBe(before);
  });

  it('shows a session with every incarnation of its agent and the loops it was cut off in', async () => {
    const sessionId = addRestartsAndLoop(core);
    const detail = (await (await get(`/api/sessions/${sessionId}`)).json()) as { incarnations: { incarnationId: string; stopReason: string | null; exitCode: number | null; stderrTail: string | null; runtimeId: string | null }[]; limited: { reason: string; count: number }[] };
    expect(detail.incarnations).toEqual([
      expect.objectContaining({ incarnationId: 'inc-1', stopReason: 'crashed', exitCode: 1, stderrTail: 'boom' }),
      expect.objectContaining({ incarnationId: 'inc-2', stopReason: null, runtimeId: 'process-42' }),
    ]);
    expect(detail.limited).toEqual([expect.objectContaining({ reason: 'loop-limit', count: 1 })]);
    const listed = (await (await get('/api/sessions')).json()) as { sessions: { session: { id: string }; limited: unknown[] }[] };
    expect(listed.sessions.find((s) => s.session.id === sessionId)!.limited).toHaveLength(1);
    expect((await get('/api/sessions/sess-nope')).status).toBe(404);
  });

  it('lists sessions with their container and quarantine', async () => {
    const body = (await (await get('/api/sessions')).json()) as { sessions: { session: { agent_group_id: string }; container: unknown }[]; quarantined: number };
    expect(body.sessions.map((s) => s.session.agent_group_id)).toEqual(expect.arrayContaining(['ag-andy', 'ag-admin']));
    expect(body.quarantined).toBe(0);
  });

  it('decides an approval as the console operator, recorded like the CLI’s decision', async () => {
    const [pending] = (await (await get('/api/approvals')).json()) as { approval_id: string; status: string; payload: unknown }[];
    expect(pending).toMatchObject({ approval_id: 'appr-1', status: 'pending', payload: { apt: ['jq'] } });
    const response = await post('/api/approvals/appr-1/approve', { reason: 'fine' });
    expect(response.status).toBe(200);
    const [decided] = core.store.readStream('approval-appr-1').filter((e) => ApprovalDecided.is(e));
    expect(decided!.metadata.actor).toBe('operator:carol');
    expect(decided!.data).toMatchObject({ decision: 'approved', reason: 'fine' });
    const again = await post('/api/approvals/appr-1/reject', {});
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: string }).error).toMatch(/already-decided/);
    // A form posted from another site cannot carry JSON without a preflight this server never grants.
    expect((await get('/api/approvals/appr-1/reject', { method: 'POST', body: '{}', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
  });

  it('refuses decisions on a read-only console (the host down) and says where to decide', async () => {
    const readonly = openCore(centralDatabasePath(dir()), { readonly: true });
    const viewer = await serve({ writable: false }, readonly);
    try {
      const response = await fetch(new URL('/api/approvals/appr-1/approve', viewer.url()), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(response.status).toBe(403);
      expect(((await response.json()) as { error: string }).error).toMatch(/read-only.*switchyard approvals approve/);
      expect(viewer.describe()).toMatch(/read-only/);
      expect(core.views.approvals.get('appr-1')!.status).toBe('pending');
    } finally {
      await viewer.stop();
      readonly.close();
    }
  });

  it('streams decisions as they commit, filtered by chat, outcome and reason', async () => {
    const lines: string[] = [];
    const url = new URL('/api/live?outcome=dropped&reason=no-trigger-matched&chat=mg-family', server.url());
    const req = request(url);
    const opened = new Promise<void>((resolve) => {
      req.on('response', (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => lines.push(...chunk.split('\n').filter((l) => l.startsWith('data: '))));
        resolve();
      });
    });
    req.end();
    await opened;
    const at = '2026-11-24T11:00:00.000Z';
    core.bus.dispatch(receiveInbound({ channelType: 'telegram', platformId: '-1001', messageId: '60', content: { text: '@Andy live?' }, timestamp: at }));
    core.bus.dispatch(receiveInbound({ channelType: 'discord', platformId: 'D9', messageId: '61', content: { text: 'anyone?' }, timestamp: at }));
    core.bus.dispatch(receiveInbound({ channelType: 'telegram', platformId: '-1001', messageId: '62', content: { text: 'no mention' }, timestamp: at }));
    // The stream is in log order: once the last drop has arrived, the route and the other chat's drop were seen and filtered out.
    await waitUntil(() => lines.length > 0, 'the drop on the live stream');
    req.destroy();
    const decisions = lines.map((l) => JSON.parse(l.slice(6)) as { outcome: string; text: string; reason: string; messagingGroupId: string });
    expect(decisions).toEqual([expect.objectContaining({ outcome: 'dropped', reason: 'no-trigger-matched', messagingGroupId: 'mg-family', text: 'no mention' })]);
  });
});

describe('the console token', () => {
  it('asks for SWITCHYARD_CONSOLE_TOKEN: Bearer header, or ?token= once, then a cookie', async () => {
    await server.stop();
    const token = 'a-console-token-long-enough';
    server = await serve({ token });
    expect(server.describe()).toMatch(/SWITCHYARD_CONSOLE_TOKEN required/);
    expect((await get('/api/overview')).status).toBe(401);
    expect((await get('/metrics', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await get('/metrics', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const first = await get(`/?token=${token}`, { redirect: 'manual' });
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/');
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
    expect((await get('/api/overview', { headers: { cookie } })).status).toBe(200);
  });

  it('without a token serves loopback only and says so', async () => {
    expect(server.url()).toMatch(/^http:\/\/127\.0\.0\.1:/);
    expect(server.describe()).toMatch(/no SWITCHYARD_CONSOLE_TOKEN set: loopback only/);
    // fetch may not set Host; a page that rebinds its own name to 127.0.0.1 sends its name there.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      request(new URL('/metrics', server.url()), { headers: { host: 'evil.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on('error', reject).end();
    });
    expect(status).toBe(421);
  });
});
