import { join } from 'node:path';
import Database from 'better-sqlite3';
import { WebhookChannel } from '../../src/adapters/channels/webhook';
import { sessionDir } from '../../src/adapters/session-db';
import { StopContainer } from '../../src/commands/containers';
import { loadConfig } from '../../src/config';
import { Host } from '../../src/host';
import { createLogger } from '../../src/logger';
import { seedApprovalScene } from '../support/approval-scene';
import { writeOutbound } from '../support/container';
import { FakePlatform, postAction, postInbound } from '../support/fake-platform';
import { RecordingRuntime } from '../support/recording-runtime';
import { useTempDir } from '../support/temp';
import { waitForEvents, waitUntil } from '../support/wait';

describe("an agent's question end to end: its card in the chat, a click, the answer in its inbound.db", () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');

  it('delivers the ask_question card, and a click there comes back as the spec\'s question_response system row', async () => {
    const platform = await FakePlatform.start();
    const channel = new WebhookChannel({ listen: { host: '127.0.0.1', port: 0 }, deliverUrl: platform.url });
    const config = loadConfig({ dataDir: dataDir() }, { SWITCHYARD_POLL_INTERVAL_MS: '20' });
    const host = await Host.start(config, { channels: [channel], logger: createLogger('silent'), runtime: new RecordingRuntime() });
    try {
      seedApprovalScene(host.core);
      await postInbound(channel.url(), { platformId: 'fam', messageId: 'm-1', content: { text: 'shall we deploy?' } });
      const [started] = await waitForEvents(host.core.store, (e) => e.type === 'ContainerStarted');
      const { sessionId } = started!.data as { sessionId: string };
      const folder = sessionDir(dataDir(), 'ag-andy', sessionId);
      await host.settled();

      const question = { type: 'ask_question', questionId: 'q-deploy', question: 'Deploy now?', options: ['Yes', 'No'] };
      writeOutbound(folder, [{ id: 'ask-1', channelType: 'webhook', platformId: 'fam', content: question }]);
      const [card] = await platform.waitFor(1);
      expect(card).toEqual(expect.objectContaining({ platformId: 'fam', content: question }));

      const click = async (userId: string, selectedOption: string, platformId = 'fam') => (await postAction(channel.url(), { platformId, questionId: 'q-deploy', selectedOption, userId })).json;
      // Gone idle before the answer: the answer wakes it, as any message does.
      host.core.bus.dispatch(StopContainer.envelope('idle', { sessionId, reason: 'idle-timeout' }));
      await waitForEvents(host.core.store, (e) => e.type === 'ContainerStopped');
      expect(await click('U-eve', 'Yes', 'ops')).toEqual({ accepted: false, reason: expect.stringContaining('refused and recorded (other-chat)') });
      expect(await click('U-ann', 'Yes')).toEqual({ accepted: true });
      expect(await click('U-bob', 'No')).toEqual({ accepted: false, reason: expect.stringContaining('refused and recorded (already-answered)') });

      const systemRows = () => {
        const db = new Database(join(folder, 'inbound.db'), { readonly: true });
        try {
          return db.prepare(`SELECT seq, kind, status, platform_id, channel_type, thread_id, content FROM messages_in WHERE kind = 'system'`).all() as Array<Record<string, unknown>>;
        } finally {
          db.close();
        }
      };
      await waitUntil(() => systemRows().length > 0, 'the question_response row in inbound.db');
      const [row] = systemRows();
      expect(row).toEqual({ seq: expect.any(Number), kind: 'system', status: 'pending', platform_id: null, channel_type: null, thread_id: null, content: '{"type":"question_response","questionId":"q-deploy","selectedOption":"Yes","userId":"U-ann"}' });
      expect((row!.seq as number) % 2).toBe(0);
      expect(host.core.views.questions.get('q-deploy')).toEqual(expect.objectContaining({ session_id: sessionId, status: 'answered', selected_option: 'Yes', answered_by: 'channel:webhook:fam:U-ann' }));
      await waitForEvents(host.core.store, (e) => e.type === 'ContainerStarting' && (e.data as { wokenBy: string }).wokenBy === 'question-answered');
    } finally {
      await host.stop();
      await platform.close();
    }
  });
});
