import { join } from 'node:path';
import Database from 'better-sqlite3';
import { WebhookChannel } from '../../src/adapters/channels/webhook';
import { sessionDir } from '../../src/adapters/session-db';
import { loadConfig } from '../../src/config';
import { Host } from '../../src/host';
import { createLogger } from '../../src/logger';
import { seedApprovalScene } from '../support/approval-scene';
import { runCli } from '../support/cli';
import { writeOutbound } from '../support/container';
import { FakePlatform, postAction, postInbound } from '../support/fake-platform';
import { RecordingRuntime } from '../support/recording-runtime';
import { useTempDir } from '../support/temp';
import { waitForEvents, waitUntil } from '../support/wait';

describe('approvals end to end: an agent asks to install packages, the operator approves', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  const cli = (...args: string[]) => runCli(['--data-dir', dataDir(), ...args], { SWITCHYARD_OPERATOR: 'alice' });

  it('shows a card in the admin chat; the approval is recorded, stops the container and tells the requester in its inbound.db', async () => {
    const platform = await FakePlatform.start();
    const runtime = new RecordingRuntime();
    const channel = new WebhookChannel({ listen: { host: '127.0.0.1', port: 0 }, deliverUrl: platform.url });
    const config = loadConfig({ dataDir: dataDir() }, { SWITCHYARD_POLL_INTERVAL_MS: '20' });
    const host = await Host.start(config, { channels: [channel], logger: createLogger('silent'), runtime });
    try {
      seedApprovalScene(host.core);
      await postInbound(channel.url(), { platformId: 'fam', messageId: 'm-1', content: { text: 'please get jq' } });
      const [started] = await waitForEvents(host.core.store, (e) => e.type === 'ContainerStarted');
      const { sessionId, runtimeId } = started!.data as { sessionId: string; runtimeId: string };
      await host.settled();

      writeOutbound(sessionDir(dataDir(), 'ag-andy', sessionId), [{ id: 'req-1', kind: 'system', content: { action: 'install_packages', apt: ['jq'], npm: ['lodash@4.17.21'], reason: 'json' } }]);
      const [card] = await platform.waitFor(1);
      expect(card).toEqual(expect.objectContaining({ platformId: 'ops', content: expect.objectContaining({ type: 'ask_question', options: ['Approve', 'Reject'], question: expect.stringContaining('npm: ["lodash@4.17.21"]') }) }));
      const approvalId = (card!.content as { questionId: string }).questionId;
      expect(cli('approvals', 'list', '--status', 'pending', '--json').stdout).toContain(approvalId);

      // A click on the card by someone who is not the chat's admin is answered, recorded, and changes nothing.
      const click = async (userId: string, selectedOption: string, questionId = approvalId) => (await postAction(channel.url(), { platformId: 'ops', questionId, selectedOption, userId })).json;
      expect(await click('U-intruder', 'Approve')).toEqual({ accepted: false, reason: expect.stringContaining('refused and recorded (not-admin)') });
      expect(host.core.views.approvals.get(approvalId)).toEqual(expect.objectContaining({ status: 'pending', refused_attempts: 1 }));

      const approved = cli('approvals', 'approve', approvalId);
      expect(approved.stderr).toBe('');
      expect(approved.stdout).toContain(`approved ${approvalId}`);
      const [decided] = await waitForEvents(host.core.store, (e) => e.type === 'ApprovalDecided');
      expect(decided!.metadata.actor).toBe('operator:alice');
      const [stopped] = await waitForEvents(host.core.store, (e) => e.type === 'ContainerStopped');
      expect(stopped!.data).toEqual(expect.objectContaining({ reason: 'approval-applied', exitCode: 0 }));
      expect(runtime.stops).toEqual([runtimeId]);
      expect(host.core.views.agentGroups.get('ag-andy')!.containerConfig.packages).toEqual({ apt: ['jq'], npm: ['lodash@4.17.21'] });

      const notices = () => {
        const db = new Database(join(sessionDir(dataDir(), 'ag-andy', sessionId), 'inbound.db'), { readonly: true });
        try {
          return (db.prepare(`SELECT content FROM messages_in WHERE id LIKE 'sys-%' ORDER BY seq`).pluck().all() as string[]).map((c) => JSON.parse(c).text as string);
        } finally {
          db.close();
        }
      };
      await waitUntil(() => notices().some((text) => text.includes('approved')), 'the approval notice in inbound.db');
      expect(notices()).toEqual([expect.stringContaining('submitted for an admin'), expect.stringContaining(`(${approvalId}) was approved and applied`)]);

      const again = cli('approvals', 'approve', approvalId);
      expect(again.status).toBe(1);
      expect(again.stderr).toContain('already-decided');

      // The chat's admin decides a second request with a click on its card.
      writeOutbound(sessionDir(dataDir(), 'ag-andy', sessionId), [{ id: 'req-2', kind: 'system', content: { action: 'request_rebuild', reason: 'stale' } }]);
      const [, second] = await platform.waitFor(2);
      const secondId = (second!.content as { questionId: string }).questionId;
      expect(await click('U-boss', 'Reject', secondId)).toEqual({ accepted: true });
      expect(host.core.views.approvals.get(secondId)).toEqual(expect.objectContaining({ status: 'rejected', decided_by: 'channel:webhook:ops:U-boss' }));

      // Every click that decides nothing is answered with its reason and recorded, as the operator's second approval was.
      expect(await click('U-boss', 'Approve', 'appr-nonexistent')).toEqual({ accepted: false, reason: expect.stringContaining('(unknown-request)') });
      expect(await click('U-boss', 'Maybe', secondId)).toEqual({ accepted: false, reason: expect.stringContaining('(unknown-option)') });
      expect(await click('U-boss', 'Approve', secondId)).toEqual({ accepted: false, reason: expect.stringContaining('(already-decided)') });
      const refusals = [...host.core.store.readAll()].filter((e) => e.type === 'ApprovalDecisionRefused').map((e) => [e.data, e.metadata.actor]);
      expect(refusals).toEqual([
        [expect.objectContaining({ approvalId, reason: 'not-admin' }), 'channel:webhook:ops:U-intruder'],
        [expect.objectContaining({ approvalId, reason: 'already-decided' }), 'operator:alice'],
        [expect.objectContaining({ approvalId: 'appr-nonexistent', decision: null, reason: 'unknown-request' }), 'channel:webhook:ops:U-boss'],
        [expect.objectContaining({ approvalId: secondId, decision: null, reason: 'unknown-option' }), 'channel:webhook:ops:U-boss'],
        [expect.objectContaining({ approvalId: secondId, decision: 'approved', reason: 'already-decided' }), 'channel:webhook:ops:U-boss'],
      ]);
      const shown = JSON.parse(cli('approvals', 'show', secondId, '--json').stdout);
      expect(shown).toEqual(expect.objectContaining({ status: 'rejected', refused_attempts: 2, card_status: 'sent' }));
      // People read who decided, as scripts do.
      expect(cli('approvals', 'show', secondId).stdout).toContain(`rejected by ${shown.decided_by} at ${shown.decided_at}`);
      expect(cli('events', '--stream', 'approval-appr-nonexistent').stdout).toContain('unknown-request');
    } finally {
      await host.stop();
      await platform.close();
    }
  });
});
