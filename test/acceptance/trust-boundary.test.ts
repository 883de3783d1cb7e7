import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import { WebhookChannel } from '../../src/adapters/channels/webhook';
import { sessionDir } from '../../src/adapters/session-db';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { loadConfig } from '../../src/config';
import { Host } from '../../src/host';
import { createLogger } from '../../src/logger';
import { runCli } from '../support/cli';
import { writeOutbound } from '../support/container';
import { FakePlatform, postInbound } from '../support/fake-platform';
import { RecordingRuntime } from '../support/recording-runtime';
import { useTempDir } from '../support/temp';
import { waitForEvents, waitUntil } from '../support/wait';

/**
 * The host against a hostile agent: everything in a session folder can be a link, garbage
 * or locked. The host never follows a link there, one session's folder never stops the
 * others, and what it refuses is recorded (a quarantine) and shown.
 */
describe('the trust boundary: a session folder is hostile input', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  let platform: FakePlatform;
  let host: Host;
  let channel: WebhookChannel;

  beforeEach(async () => {
    platform = await FakePlatform.start();
    channel = new WebhookChannel({ listen: { host: '127.0.0.1', port: 0 }, deliverUrl: platform.url });
    const config = loadConfig({ dataDir: dataDir() }, { SWITCHYARD_POLL_INTERVAL_MS: '20' });
    host = await Host.start(config, { channels: [channel], logger: createLogger('silent'), runtime: new RecordingRuntime() });
    const run = (envelope: Parameters<typeof host.core.bus.dispatch>[0]) => expect(host.core.bus.dispatch(envelope).status).toBe('accepted');
    run(CreateAgentGroup.envelope('andy', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
    for (const chat of ['fam', 'work']) {
      run(RegisterMessagingGroup.envelope(`mg-${chat}`, { messagingGroupId: `mg-${chat}`, channelType: 'webhook', platformId: chat }));
      run(WireChannel.envelope(`wire-${chat}`, { messagingGroupId: `mg-${chat}`, agentGroupId: 'ag-andy' }));
    }
  });

  afterEach(async () => {
    await host.stop();
    await platform.close();
  });

  /** A message from the chat; resolves with its session's folder once the host has written it. */
  async function sessionFor(chat: string, messageId = `${chat}-1`, text = 'hello'): Promise<{ sessionId: string; dir: string }> {
    expect((await postInbound(channel.url(), { platformId: chat, messageId, content: { text } })).status).toBe(202);
    const [routed] = await waitForEvents(host.core.store, (e) => e.type === 'InboundRouted' && (e.data as { platformMessageId: string }).platformMessageId === messageId);
    await host.settled();
    const { sessionId, agentGroupId } = routed!.data as { sessionId: string; agentGroupId: string };
    return { sessionId, dir: sessionDir(dataDir(), agentGroupId, sessionId) };
  }

  const quarantineOf = (sessionId: string) => waitForEvents(host.core.store, (e) => e.type === 'SessionQuarantined' && (e.data as { sessionId: string }).sessionId === sessionId);
  const outcomeOf = (outboundId: string) =>
    waitForEvents(host.core.store, (e) => (e.data as { outboundId?: string }).outboundId === outboundId && ['DeliverySucceeded', 'OutboundDropped'].concat(e.type === 'DeliveryFailed' && (e.data as { final: boolean }).final ? ['DeliveryFailed'] : []).includes(e.type));
  const messagesIn = (dir: string): string[] => {
    const db = new Database(join(dir, 'inbound.db'), { readonly: true });
    try {
      return db.prepare('SELECT id FROM messages_in ORDER BY seq').pluck().all() as string[];
    } finally {
      db.close();
    }
  };
  const inboundIds = (dir: string) => messagesIn(dir).filter((id) => !id.startsWith('sys-'));

  it('an outbox/<row> linked to a host folder sends none of its files: the row fails and the session is quarantined', async () => {
    const { sessionId, dir } = await sessionFor('fam');
    const secrets = join(tempDir(), 'host-secrets');
    mkdirSync(secrets);
    writeFileSync(join(secrets, 'secret.txt'), 'the host key');
    symlinkSync(secrets, join(dir, 'outbox', 'r-leak'));
    writeOutbound(dir, [{ id: 'r-leak', channelType: 'webhook', platformId: 'fam', content: { text: 'see attached', files: ['secret.txt'] } }]);

    const [outcome] = await outcomeOf('r-leak');
    expect(outcome!.type).toBe('DeliveryFailed');
    expect(outcome!.data).toEqual(expect.objectContaining({ errorClass: 'UnsafeOutbox', final: true }));
    expect(platform.received.map((body) => JSON.stringify(body))).not.toEqual(expect.arrayContaining([expect.stringContaining(Buffer.from('the host key').toString('base64'))]));
    const [quarantined] = await quarantineOf(sessionId);
    expect(quarantined!.data).toEqual(expect.objectContaining({ reason: 'unsafe-path', component: 'delivery', evidence: expect.objectContaining({ outboundId: 'r-leak' }) }));
    expect(readFileSync(join(secrets, 'secret.txt'), 'utf8')).toBe('the host key');
  });

  it('an outbox that is a relative link to a host folder: a delivered reply deletes nothing there', async () => {
    const { sessionId, dir } = await sessionFor('fam');
    const victim = join(tempDir(), 'victim');
    mkdirSync(join(victim, 'r-ok'), { recursive: true });
    writeFileSync(join(victim, 'r-ok', 'keep.txt'), 'precious');
    rmSync(join(dir, 'outbox'), { recursive: true });
    // Relative: the agent needs no knowledge of host paths.
    symlinkSync(relative(dir, victim), join(dir, 'outbox'));
    writeOutbound(dir, [{ id: 'r-ok', channelType: 'webhook', platformId: 'fam', content: { text: 'an ordinary reply' } }]);

    const [outcome] = await outcomeOf('r-ok');
    expect(outcome!.type).toBe('DeliverySucceeded');
    await quarantineOf(sessionId);
    expect(readFileSync(join(victim, 'r-ok', 'keep.txt'), 'utf8')).toBe('precious');
  });

  it.each([
    ['garbage in inbound.db', (dir: string) => writeFileSync(join(dir, 'inbound.db'), 'this is not a database'.repeat(100)), 'unreadable-database'],
    ['a dropped messages_in table', (dir: string) => dropTable(join(dir, 'inbound.db')), 'unreadable-database'],
    ['inbound.db swapped for a link', (dir: string) => swapForLink(join(dir, 'inbound.db')), 'unsafe-path'],
    ['outbound.db swapped for a link', (dir: string) => swapForLink(join(dir, 'outbound.db')), 'unsafe-path'],
  ])('%s quarantines that session alone; the other keeps receiving and answering', async (_what, tamper, reason) => {
    const bad = await sessionFor('fam');
    const good = await sessionFor('work');
    tamper(bad.dir);
    await postInbound(channel.url(), { platformId: 'fam', messageId: 'fam-2', content: { text: 'second' } });
    const [quarantined] = await quarantineOf(bad.sessionId);
    expect((quarantined!.data as { reason: string }).reason).toBe(reason);

    await postInbound(channel.url(), { platformId: 'work', messageId: 'work-2', content: { text: 'still there?' } });
    await waitUntil(() => inboundIds(good.dir).length === 2, "the healthy session's second message");
    writeOutbound(good.dir, [{ id: 'w-1', channelType: 'webhook', platformId: 'work', content: { text: 'yes' } }]);
    expect((await outcomeOf('w-1'))[0]!.type).toBe('DeliverySucceeded');

    const status = runCli(['--data-dir', dataDir(), 'status', '--json']);
    expect(JSON.parse(status.stdout).quarantined).toEqual([expect.objectContaining({ sessionId: bad.sessionId, reason })]);
    expect(runCli(['--data-dir', dataDir(), 'sessions', 'show', bad.sessionId]).stdout).toContain(`quarantined (${reason}`);
  });

  it('an agent holding its inbound.db locked delays only its own session, whose message lands once the lock is gone', async () => {
    const locked = await sessionFor('fam');
    const other = await sessionFor('work');
    const holder = holdExclusiveLock(join(locked.dir, 'inbound.db'));
    await holder.locked;
    try {
      await postInbound(channel.url(), { platformId: 'fam', messageId: 'fam-2', content: { text: 'waits for the lock' } });
      await postInbound(channel.url(), { platformId: 'work', messageId: 'work-2', content: { text: 'does not wait' } });
      await waitUntil(() => inboundIds(other.dir).length === 2, 'the other session, while the lock is held');
    } finally {
      holder.release();
    }
    await waitUntil(() => inboundIds(locked.dir).length === 2, 'the locked session, after the lock');
    expect(host.core.views.sessions.get(locked.sessionId)!.status).toBe('active');
  });

  it('a full disk under one session’s folder delays that session alone; it catches up once there is space, without a restart', async () => {
    const mount = join(dataDir(), 'sessions', 'ag-disk');
    mkdirSync(mount, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount], { stdio: 'ignore' });
    } catch (error) {
      // CI runs as root and can mount; a developer's machine may not: say so rather than pass silently.
      if (process.env.CI === 'true') throw error;
      console.warn('skipped: mounting a small tmpfs needs root');
      return;
    }
    try {
      expect(host.core.bus.dispatch(CreateAgentGroup.envelope('disk', { agentGroupId: 'ag-disk', name: 'Disk', folder: 'disk' })).status).toBe('accepted');
      expect(host.core.bus.dispatch(RegisterMessagingGroup.envelope('mg-disk', { messagingGroupId: 'mg-disk', channelType: 'webhook', platformId: 'disk' })).status).toBe('accepted');
      expect(host.core.bus.dispatch(WireChannel.envelope('wire-disk', { messagingGroupId: 'mg-disk', agentGroupId: 'ag-disk' })).status).toBe('accepted');
      const full = await sessionFor('disk');
      const other = await sessionFor('work');
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${join(mount, 'filler')}`, 'bs=64k'], { stdio: 'ignore' });
      } catch {
        // dd stops with ENOSPC: the disk is full, as wanted.
      }
      await postInbound(channel.url(), { platformId: 'disk', messageId: 'disk-2', content: { text: 'no room for me yet' } });
      await postInbound(channel.url(), { platformId: 'work', messageId: 'work-2', content: { text: 'plenty of room here' } });
      await waitUntil(() => inboundIds(other.dir).length === 2, 'the session on a disk with space');
      expect(inboundIds(full.dir)).toHaveLength(1);

      rmSync(join(mount, 'filler'));
      await waitUntil(() => inboundIds(full.dir).length === 2, 'the full session, once there is space');
      expect(host.core.views.sessions.get(full.sessionId)!.status).toBe('active');
    } finally {
      // Lazily: the host still has the session's files open until it stops.
      execFileSync('umount', ['-l', mount]);
    }
  });

  it('a released session gets what was routed to it while it was quarantined, once', async () => {
    const { sessionId, dir } = await sessionFor('fam');
    swapForLink(join(dir, 'inbound.db'));
    await postInbound(channel.url(), { platformId: 'fam', messageId: 'fam-2', content: { text: 'during quarantine' } });
    await quarantineOf(sessionId);
    await postInbound(channel.url(), { platformId: 'fam', messageId: 'fam-3', content: { text: 'still during quarantine' } });
    await waitForEvents(host.core.store, (e) => e.type === 'InboundRouted' && (e.data as { platformMessageId: string }).platformMessageId === 'fam-3');

    // The operator puts the real file back, then releases the session.
    rmSync(join(dir, 'inbound.db'));
    writeFileSync(join(dir, 'inbound.db'), readFileSync(join(tempDir(), 'moved-inbound.db')));
    const released = runCli(['--data-dir', dataDir(), 'sessions', 'release', sessionId]);
    expect(released.status).toBe(0);
    await waitForEvents(host.core.store, (e) => e.type === 'SessionReleased');
    await host.settled();
    await waitUntil(() => inboundIds(dir).length === 3, 'the messages routed during the quarantine');
    expect(host.core.views.sessions.get(sessionId)!.status).toBe('active');

    const again = runCli(['--data-dir', dataDir(), 'sessions', 'release', sessionId]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('not-quarantined');
  });

  /** Moves the file away (to <temp>/moved-<name>) and leaves a link to a host file in its place. */
  function swapForLink(path: string): void {
    const name = path.split('/').pop()!;
    const moved = join(tempDir(), `moved-${name}`);
    writeFileSync(moved, readFileSync(path));
    rmSync(path);
    const hostFile = join(tempDir(), `host-${name}`);
    writeFileSync(hostFile, readFileSync(moved));
    symlinkSync(hostFile, path);
  }
});

function dropTable(path: string): void {
  const db = new Database(path);
  try {
    db.exec('DROP TABLE messages_in');
  } finally {
    db.close();
  }
}

/** Another process holds BEGIN EXCLUSIVE on the database until released, as a hostile agent could. */
function holdExclusiveLock(path: string): { locked: Promise<void>; release: () => void } {
  const script = `
    const db = new (require('better-sqlite3'))(${JSON.stringify(path)});
    db.exec('BEGIN EXCLUSIVE');
    process.stdout.write('locked\\n');
    process.stdin.on('data', () => { db.exec('COMMIT'); db.close(); process.exit(0); });`;
  const child = spawn(process.execPath, ['-e', script], { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'inherit'] });
  const locked = new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
  return { locked, release: () => child.stdin.end('go\n') };
}

