import { existsSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ReactorRunner } from '../../src/adapters/reactor';
import { openInboundDb, sessionDir } from '../../src/adapters/session-db';
import { SessionFolderReactor } from '../../src/adapters/session-folder';
import type { CommandEnvelope } from '../../src/commands/define';
import { receiveInbound, type ReceiveInboundPayload } from '../../src/commands/inbound';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { openDataDir, type Core } from '../../src/core';
import { seedScenario } from '../support/scenario';
import { useTempDir } from '../support/temp';

interface Row { id: string; seq: number; kind: string; status: string; platform_id: string; channel_type: string; thread_id: string | null; content: string }

const inbound = (extra: Partial<ReceiveInboundPayload> & { messageId: string }): ReceiveInboundPayload => ({
  channelType: 'telegram',
  platformId: '-1001',
  content: { text: '@andy hi' },
  timestamp: '2026-11-24T10:00:00.000Z',
  ...extra,
});

describe('session-folder reactor', () => {
  const tempDir = useTempDir();
  let dataDir: string;
  let core: Core;
  let runner: ReactorRunner;

  const startRunner = () => {
    runner = new ReactorRunner(core.store, new SessionFolderReactor(dataDir, core));
    runner.start();
  };
  const dispatch = (envelope: CommandEnvelope) => {
    const outcome = core.bus.dispatch(envelope);
    expect(outcome).toMatchObject({ status: 'accepted' });
    return outcome;
  };
  const folderOf = (agentGroupId: string, sessionId: string) => sessionDir(dataDir, agentGroupId, sessionId);
  const rowsOf = (dir: string): Row[] => {
    const db = openInboundDb(dir);
    try {
      return db.prepare('SELECT id, seq, kind, status, platform_id, channel_type, thread_id, content FROM messages_in ORDER BY seq').all() as Row[];
    } finally {
      db.close();
    }
  };
  const routedEvents = () => [...core.store.readAll({ type: 'InboundRouted' })].map((event) => event.data as { messageId: string; sessionId: string; platformMessageId: string });

  beforeEach(() => {
    dataDir = join(tempDir(), 'data');
    core = openDataDir(dataDir);
    startRunner();
  });
  afterEach(() => {
    runner.stop();
    core.close();
  });

  it('makes groups/<folder> for each agent group and a folder per session: per-thread apart, agent-shared together', async () => {
    seedScenario(core);
    for (const [id, platformId] of [['mg-hook', 'h1'], ['mg-mail', 'm1']] as const) {
      dispatch(RegisterMessagingGroup.envelope(`reg-${id}`, { messagingGroupId: id, channelType: 'webhook', platformId }));
      dispatch(WireChannel.envelope(`wire-${id}`, { messagingGroupId: id, agentGroupId: 'ag-research', sessionMode: 'agent-shared' }));
      dispatch(receiveInbound(inbound({ channelType: 'webhook', platformId, messageId: `to-research-${id}` })));
    }
    await runner.caughtUp();

    expect(readdirSync(join(dataDir, 'groups')).sort()).toEqual(['admin', 'andy', 'research']);

    const admin = core.views.sessions.forAgentGroup('ag-admin');
    expect(admin.map((s) => s.thread_id)).toEqual(['t-1', 't-2']);
    expect(admin.map((s) => rowsOf(folderOf('ag-admin', s.id)).map((r) => [r.seq, r.thread_id, r.platform_id]))).toEqual([
      [[2, 't-1', 'C42']],
      [[2, 't-2', 'C42']],
    ]);

    const research = core.views.sessions.forAgentGroup('ag-research');
    expect(research).toHaveLength(1);
    expect(research[0]).toMatchObject({ session_mode: 'agent-shared', messaging_group_id: null });
    expect(rowsOf(folderOf('ag-research', research[0]!.id)).map((r) => [r.seq, r.channel_type, r.platform_id])).toEqual([
      [2, 'webhook', 'h1'],
      [4, 'webhook', 'm1'],
    ]);
    expect(readdirSync(join(dataDir, 'sessions')).sort()).toEqual(['ag-admin', 'ag-andy', 'ag-research']);
  });

  it('a message delivered twice by the platform is one event and one row', async () => {
    seedScenario(core);
    const again = receiveInbound(inbound({ messageId: 'dup-1' }));
    dispatch(again);
    expect(dispatch(again)).toMatchObject({ duplicate: true });
    await runner.caughtUp();

    const routed = routedEvents().filter((e) => e.platformMessageId === 'dup-1');
    expect(routed).toHaveLength(1);
    const rows = rowsOf(folderOf('ag-andy', routed[0]!.sessionId));
    expect(rows.filter((r) => r.id === routed[0]!.messageId)).toHaveLength(1);
    expect(rows.map((r) => r.seq)).toEqual([2, 4]);
  });

  it('writes the message as the spec says, attachments extracted to the inbox', async () => {
    seedScenario(core);
    const data = Buffer.from('PNG bytes').toString('base64');
    dispatch(receiveInbound(inbound({ messageId: 'att-1', threadId: 'th', content: { text: '@andy look', attachments: [{ name: '../../pic.png', data, size: 9 }] } })));
    await runner.caughtUp();

    const event = routedEvents().find((e) => e.platformMessageId === 'att-1')!;
    const dir = folderOf('ag-andy', event.sessionId);
    const row = rowsOf(dir).find((r) => r.id === event.messageId)!;
    expect(row).toMatchObject({ kind: 'chat', status: 'pending', platform_id: '-1001', channel_type: 'telegram', thread_id: 'th' });
    expect(JSON.parse(row.content)).toEqual({ text: '@andy look', attachments: [{ name: '../../pic.png', size: 9, localPath: `inbox/${event.messageId}/pic.png` }] });
    expect(readFileSync(join(dir, 'inbox', event.messageId, 'pic.png'), 'utf8')).toBe('PNG bytes');
  });

  it('a restart that replays the whole log writes no row, file or seq twice', async () => {
    seedScenario(core);
    const data = Buffer.from('doc').toString('base64');
    dispatch(receiveInbound(inbound({ messageId: 'r-1', content: { text: '@andy doc', attachments: [{ name: 'doc.txt', data }] } })));
    await runner.caughtUp();

    // Every session file and folder, with what would change if it were written again.
    const snapshot = () => {
      const walk = (dir: string): string[] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [join(dir, e.name), ...walk(join(dir, e.name))] : [join(dir, e.name)]));
      const stats = walk(join(dataDir, 'sessions')).map((path) => {
        const { ino, size, mtimeMs } = statSync(path);
        return { path: relative(dataDir, path), ino, size, mtimeMs };
      });
      const rows = core.views.sessions.list().map((s) => rowsOf(folderOf(s.agent_group_id, s.id)));
      return { stats, rows };
    };
    const before = snapshot();
    runner.stop();
    core.store.db.prepare("UPDATE checkpoints SET position = 0 WHERE consumer = 'session-folder'").run();
    // Proof that the replay ran: a lost group folder comes back.
    rmSync(join(dataDir, 'groups', 'andy'), { recursive: true });

    startRunner();
    await runner.caughtUp();

    expect(existsSync(join(dataDir, 'groups', 'andy'))).toBe(true);
    expect(snapshot()).toEqual(before);

    // The next message takes the next even seq: the replay used none.
    dispatch(receiveInbound(inbound({ messageId: 'r-2' })));
    await runner.caughtUp();
    const andy = core.views.sessions.forAgentGroup('ag-andy')[0]!;
    expect(rowsOf(folderOf('ag-andy', andy.id)).map((r) => r.seq)).toEqual([2, 4, 6]);
  });

  it('refuses a tampered session folder without stalling the others', async () => {
    seedScenario(core);
    await runner.caughtUp();
    const andy = core.views.sessions.forAgentGroup('ag-andy')[0]!;
    const outside = join(tempDir(), 'outside.db');
    writeFileSync(outside, 'not yours');
    const dir = folderOf('ag-andy', andy.id);
    rmSync(join(dir, 'inbound.db'));
    symlinkSync(outside, join(dir, 'inbound.db'));

    dispatch(receiveInbound(inbound({ messageId: 'into-tampered' })));
    dispatch(receiveInbound(inbound({ channelType: 'slack', platformId: 'C42', threadId: 't-3', messageId: 'elsewhere', content: { text: 'still working?' } })));
    await runner.caughtUp();

    expect(readFileSync(outside, 'utf8')).toBe('not yours');
    const thread = core.views.sessions.forAgentGroup('ag-admin').find((s) => s.thread_id === 't-3')!;
    expect(rowsOf(folderOf('ag-admin', thread.id)).map((r) => JSON.parse(r.content).text)).toEqual(['still working?']);
  });
});
