import { join } from 'node:path';
import { acquireLease } from '../../src/adapters/lease';
import { sessionDir } from '../../src/adapters/session-db';
import { AddDestination } from '../../src/commands/destinations';
import { receiveInbound } from '../../src/commands/inbound';
import { loadConfig } from '../../src/config';
import { openDataDir } from '../../src/core';
import type { RecordedEvent } from '../../src/events/define';
import { Host } from '../../src/host';
import { createLogger } from '../../src/logger';
import { runCli, startCli } from '../support/cli';
import { writeOutbound } from '../support/container';
import { seedScenario } from '../support/scenario';
import { useTempDir } from '../support/temp';
import { waitForEvents } from '../support/wait';

describe('switchyard audit and explain (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');

  /** A history with routed and dropped messages both ways, made by a real host. */
  beforeEach(async () => {
    const host = await Host.start(loadConfig({ dataDir: dataDir() }, { SWITCHYARD_POLL_INTERVAL_MS: '20', SWITCHYARD_RUNTIME: 'external' }), { channels: [], logger: createLogger('silent') });
    try {
      seedScenario(host.core);
      await host.settled();
      const session = host.core.views.sessions.forAgentGroup('ag-andy')[0]!;
      writeOutbound(sessionDir(dataDir(), 'ag-andy', session.id), [
        { id: 'r-revoked', channelType: 'agent', platformId: 'ag-research', content: { text: 'research this' } },
        { id: 'r-unknown', channelType: 'telegram', platformId: '-999', content: { text: 'hello?' } },
      ]);
      const isDrop = (id: string) => (e: RecordedEvent) => e.type === 'OutboundDropped' && (e.data as { outboundId: string }).outboundId === id;
      await Promise.all([waitForEvents(host.core.store, isDrop('r-revoked')), waitForEvents(host.core.store, isDrop('r-unknown'))]);
    } finally {
      await host.stop();
    }
  });

  const cli = (...args: string[]) => runCli(['--data-dir', dataDir(), ...args]);
  const jsonLines = (stdout: string) => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line));

  it('audit lists every message with its outcome, and filters by outcome, direction and agent group', () => {
    const all = jsonLines(cli('audit', '--jsonl').stdout);
    // --json is one document everywhere (an array here), --jsonl the stream of the same rows.
    expect(JSON.parse(cli('audit', '--json').stdout)).toEqual(all);
    expect(JSON.parse(cli('events', '--json').stdout)).toEqual(jsonLines(cli('events', '--jsonl').stdout));
    expect(JSON.parse(cli('audit', '--agent-group', 'ag-research', '--direction', 'inbound', '--outcome', 'dropped', '--json').stdout)).toEqual([]);
    expect(cli('events', '--follow', '--json')).toMatchObject({ status: 2, stderr: expect.stringContaining('--follow is a stream') });
    expect(all.map((row) => [row.direction, row.outcome, row.reason])).toEqual([
      ['inbound', 'routed', null],
      ['inbound', 'dropped', 'no-trigger-matched'],
      ['inbound', 'routed', null],
      ['inbound', 'routed', null],
      ['inbound', 'dropped', 'no-agent-wired'],
      ['outbound', 'dropped', 'not-permitted'],
      ['outbound', 'dropped', 'unknown-destination'],
    ]);
    const dropped = cli('audit', '--outcome', 'dropped', '--direction', 'outbound');
    expect(dropped.status).toBe(0);
    expect(dropped.stdout).toMatch(/outbound\s+r-revoked\s+dropped\s+not-permitted\s+ag-andy/);
    expect(dropped.stdout).not.toContain('inbound');
    expect(jsonLines(cli('audit', '--agent-group', 'ag-admin', '--jsonl').stdout).map((row) => row.outcome)).toEqual(['routed', 'routed']);
    expect(cli('audit', '--since', '2999-01-01T00:00:00Z').stdout).toContain('no messages match');
  });

  it('explain shows the decision, the ACL at that moment and the revocation that caused the drop', () => {
    const result = cli('explain', 'r-revoked');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('outbound message r-revoked  dropped (not-permitted)');
    expect(result.stdout).toMatch(/OutboundDropped\s+dropped: not-permitted: agent group ag-andy has no destination to agent group ag-research/);
    expect(result.stdout).toMatch(/family\s+channel\s+mg-family/);
    expect(result.stdout).toMatch(/revoked: destination "research-bot" by operator:alice at #\d+/);
    const [explanation] = JSON.parse(cli('explain', 'r-revoked', '--json').stdout);
    expect(explanation.steps[0].revokedBy.event.type).toBe('DestinationRemoved');
  });

  it('explain finds an inbound message by its command id and shows why it was dropped', () => {
    const result = cli('explain', 'inbound:telegram:-1001:2');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('inbound message');
    expect(result.stdout).toContain('InboundDropped  dropped: no-trigger-matched');
  });

  it('explain of an unknown id exits 1; a bad --outcome or --since exits 2', () => {
    expect(cli('explain', 'nope')).toMatchObject({ status: 1, stderr: expect.stringContaining('no message nope in the audit trail') });
    expect(cli('audit', '--outcome', 'lost').status).toBe(2);
    expect(cli('audit', '--since', 'yesterday-ish')).toMatchObject({ status: 2, stderr: expect.stringContaining('expected an ISO-8601 time') });
  });
});

describe('switchyard acl --at and audit --format (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  const cli = (...args: string[]) => runCli(['--data-dir', dataDir(), ...args]);

  it('shows the ACL as it was at a position or a time, and exports the audit as CSV and JSON Lines', () => {
    const core = openDataDir(dataDir());
    seedScenario(core);
    const revocation = [...core.store.readAll({ type: 'DestinationRemoved' })][0]!;
    core.close();

    const names = (...args: string[]) => JSON.parse(cli('acl', 'ag-andy', '--json', ...args).stdout).destinations.map((d: { local_name: string }) => d.local_name);
    expect(names('--at', String(revocation.position - 1))).toEqual(['family', 'research-bot']);
    expect(names()).toEqual(['family']);
    expect(names('--at', '2000-01-01T00:00:00Z')).toEqual([]);
    expect(names('--at', revocation.metadata.recordedAt)).toEqual(['family']);
    expect(cli('acl', 'ag-andy', '--at', String(revocation.position - 1)).stdout).toMatch(/research-bot\s+agent\s+ag-research\s+#\d+\s+operator:alice/);
    expect(cli('acl', 'ag-andy', '--at', 'last tuesday')).toMatchObject({ status: 2, stderr: expect.stringContaining('expected a log position or an ISO-8601 time') });

    const csv = cli('audit', '--format', 'csv').stdout.trimEnd().split('\r\n');
    expect(csv[0]).toBe('audit_id,message_id,direction,outcome,reason,rule,agent_group_id,session_id,messaging_group_id,target,platform_message_id,attempts,decided_position,last_position,decided_at,updated_at');
    expect(csv).toHaveLength(1 + 5);
    expect(csv[2]).toMatch(/^inbound:telegram:-1001:2,msg-\w+,inbound,dropped,no-trigger-matched,/);
    const jsonl = cli('audit', '--format', 'jsonl').stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(jsonl.map((row) => row.outcome)).toEqual(['routed', 'dropped', 'routed', 'routed', 'dropped']);
  });
});

describe('switchyard status and replay --until (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  const cli = (...args: string[]) => runCli(['--data-dir', dataDir(), ...args]);

  it('status reads the log alone, host down or up; replay --until writes the past into a file read commands take', () => {
    const core = openDataDir(dataDir());
    seedScenario(core);
    const revocation = [...core.store.readAll({ type: 'DestinationRemoved' })][0]!;
    const last = core.store.lastPosition();
    core.close();

    const down = JSON.parse(cli('status', '--json').stdout);
    expect(down).toMatchObject({ host: { running: false }, log: { lastPosition: last }, sessions: [{ status: 'active', count: 3 }], messages: { undelivered: 0, failed: 0 } });
    expect(down.dropsLastHour).toEqual([
      { reason: 'no-agent-wired', direction: 'inbound', count: 1 },
      { reason: 'no-trigger-matched', direction: 'inbound', count: 1 },
    ]);
    const release = acquireLease(dataDir());
    try {
      expect(cli('status').stdout).toContain(`host      running (pid ${process.pid})`);
    } finally {
      release();
    }

    const out = join(tempDir(), 'as-of.db');
    const replay = JSON.parse(cli('replay', '--until', String(revocation.position - 1), '--out', out, '--json').stdout);
    expect(replay).toEqual({ path: out, until: revocation.position - 1, events: revocation.position - 1 });
    const past = JSON.parse(runCli(['--db', out, 'acl', 'ag-andy', '--json']).stdout);
    expect(past.destinations.map((d: { local_name: string }) => d.local_name)).toEqual(['family', 'research-bot']);
    expect(runCli(['--db', out, 'replay', '--verify']).status).toBe(0);
    expect(cli('replay', '--until', '3', '--out', out)).toMatchObject({ status: 1, stderr: expect.stringContaining('exists') });
    // A time names the last event at or before it; without --out each run writes a file of its own, with progress when asked.
    const byTime = JSON.parse(cli('replay', '--until', revocation.metadata.recordedAt, '--json').stdout);
    expect(byTime.until).toBeGreaterThanOrEqual(revocation.position);
    const again = runCli(['--data-dir', dataDir(), 'replay', '--until', revocation.metadata.recordedAt, '--json'], { SWITCHYARD_PROGRESS: '1' });
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout).path).not.toBe(byTime.path);
    expect(again.stderr).toContain(`replaying events: ${byTime.until}/${byTime.until}`);
    expect(runCli(['--data-dir', dataDir(), 'replay', '--verify'], { SWITCHYARD_PROGRESS: '1' }).stderr).toContain(`replaying events: ${last}/${last}`);
    expect(cli('replay', '--verify', '--until', '3').status).toBe(2);
  });
});

describe('switchyard status counts only what a channel still has to deliver (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');

  it('given a routed system action and an agent-to-agent message, status shows nothing awaiting delivery', async () => {
    const host = await Host.start(loadConfig({ dataDir: dataDir() }, { SWITCHYARD_POLL_INTERVAL_MS: '20', SWITCHYARD_RUNTIME: 'external' }), { channels: [], logger: createLogger('silent') });
    try {
      seedScenario(host.core);
      await host.settled();
      host.core.bus.dispatch(AddDestination.envelope('t-andy-admin', { agentGroupId: 'ag-andy', localName: 'admin', targetType: 'agent', targetId: 'ag-admin' }, { actor: 'operator:test' }));
      const session = host.core.views.sessions.forAgentGroup('ag-andy')[0]!;
      writeOutbound(sessionDir(dataDir(), 'ag-andy', session.id), [
        { id: 'r-task', kind: 'system', content: { action: 'schedule_task', taskId: 'task-1', prompt: 'check the news', processAfter: new Date(Date.now() + 86_400_000).toISOString() } },
        { id: 'r-peer', channelType: 'agent', platformId: 'ag-admin', content: { text: 'found it' } },
      ]);
      await waitForEvents(host.core.store, (e) => e.type === 'SystemActionAccepted');
      await waitForEvents(host.core.store, (e) => e.type === 'OutboundRouted' && (e.data as { outboundId: string }).outboundId === 'r-peer');
    } finally {
      await host.stop();
    }
    const status = runCli(['--data-dir', dataDir(), 'status', '--json']);
    expect(JSON.parse(status.stdout).messages).toEqual({ undelivered: 0, failed: 0, inboundFailed: 0 });
  });
});

describe('switchyard explain tells the whole story (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  const cli = (...args: string[]) => runCli(['--data-dir', dataDir(), ...args]);

  it('finds an inbound message by its platform id, shows its text, the wirings a drop tried, and an answer names the message it answers', async () => {
    const host = await Host.start(loadConfig({ dataDir: dataDir() }, { SWITCHYARD_POLL_INTERVAL_MS: '20', SWITCHYARD_RUNTIME: 'external' }), { channels: [], logger: createLogger('silent') });
    try {
      seedScenario(host.core);
      await host.settled();
      const session = host.core.views.sessions.forAgentGroup('ag-andy')[0]!;
      const [question] = [...host.core.views.audit.query({ agentGroupId: 'ag-andy', direction: 'inbound' })];
      writeOutbound(sessionDir(dataDir(), 'ag-andy', session.id), [{ id: 'r-answer', inReplyTo: question!.message_id, channelType: 'telegram', platformId: '-1001', content: { text: 'pasta' } }]);
      await waitForEvents(host.core.store, (e) => e.type === 'OutboundRouted');
    } finally {
      await host.stop();
    }

    const routed = cli('explain', '1');
    expect(routed.status).toBe(0);
    expect(routed.stdout).toContain('inbound message');
    expect(routed.stdout).toContain('@Andy what is for dinner?');

    const dropped = cli('explain', '2').stdout;
    expect(dropped).toContain('no trigger here');
    expect(dropped).toMatch(/tried ag-andy \(priority 10\): pattern \^@andy\\b/);

    const answer = cli('explain', 'r-answer').stdout;
    expect(answer).toContain('pasta');
    expect(answer).toMatch(/in reply to msg-\w+ .*@Andy what is for dinner\?/);
  });
});

describe('switchyard audit --follow (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');

  it('prints the decisions so far, then each new one as it commits, with its reason and text; Ctrl-C ends it cleanly', async () => {
    const core = openDataDir(dataDir());
    seedScenario(core);
    const follow = startCli(['--data-dir', dataDir(), 'audit', '--follow', '--direction', 'inbound']);
    await follow.lines(5);
    core.bus.dispatch(receiveInbound({ channelType: 'telegram', platformId: '-1001', messageId: '90', content: { text: 'still no trigger' }, timestamp: '2026-11-24T10:00:00.000Z' }));
    core.bus.dispatch(receiveInbound({ channelType: 'telegram', platformId: '-1001', messageId: '91', content: { text: '@andy are you there?' }, timestamp: '2026-11-24T10:01:00.000Z' }));
    core.close();
    await follow.lines(7);
    follow.child.kill('SIGINT');
    const result = await follow.done;
    expect(result.status).toBe(0);
    const lines = result.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(7);
    expect(lines[5]).toMatch(/inbound  msg-\w+  dropped  no-trigger-matched .*"still no trigger"$/);
    expect(lines[6]).toMatch(/inbound  msg-\w+  routed  wiring-trigger  ag-andy .*"@andy are you there\?"$/);
  });
});
