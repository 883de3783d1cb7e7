import { ApproveRequest, ExpireApproval, RejectRequest } from '../../src/commands/approvals';
import { payloadHash } from '../../src/commands/system-actions';
import { ApprovalDecided, ApprovalRequested } from '../../src/events/admin';
import { ContainerStarted, ContainerStarting } from '../../src/events/containers';
import { SessionOpened } from '../../src/events/inbound';
import { MessagingGroupUpdated } from '../../src/events/messaging-groups';
import { given } from '../support/decider';
import { agentGroupCreated, channelWired, chatRegistered } from '../support/fixtures';

// The decider tests run at 2026-11-24T12:00:00Z (test/support/decider.ts).
const payload = { apt: ['jq'], npm: [], reason: 'json' };
const requested = (extra: { expiresAt?: string; payload?: Record<string, unknown> } = {}) =>
  ApprovalRequested.create({
    approvalId: 'appr-1', sessionId: 'sess-andy', agentGroupId: 'ag-andy', outboundId: 'out-1', action: 'install_packages',
    payload: extra.payload ?? payload, payloadHash: payloadHash(payload), shownText: 'Andy asks to install packages', expiresAt: extra.expiresAt ?? '2026-11-25T09:00:00.000Z',
    adminChat: { messagingGroupId: 'mg-ops', channelType: 'slack', platformId: 'C-ops' },
  });
const scene = [
  agentGroupCreated('ag-admin', { isAdmin: true }),
  agentGroupCreated('ag-andy'),
  chatRegistered('mg-ops', { channelType: 'slack', platformId: 'C-ops' }),
  MessagingGroupUpdated.create({ messagingGroupId: 'mg-ops', adminUserId: 'U-boss' }),
  channelWired('mg-ops', 'ag-admin'),
  SessionOpened.create({ sessionId: 'sess-andy', agentGroupId: 'ag-andy', messagingGroupId: null, threadId: null, sessionMode: 'agent-shared', agentProvider: null }),
  ContainerStarting.create({ sessionId: 'sess-andy', agentGroupId: 'ag-andy', incarnationId: 'inc-1', runtime: 'process', image: 'img', wokenBy: 'x' }),
  ContainerStarted.create({ sessionId: 'sess-andy', incarnationId: 'inc-1', runtimeId: 'rt-1' }),
];
const decision = { approvalId: 'appr-1', payloadHash: payloadHash(payload) };
const refused = (reason: string) => expect.objectContaining({ type: 'ApprovalDecisionRefused', data: expect.objectContaining({ reason }) });

describe('ApproveRequest', () => {
  it('applies exactly the approved payload: packages into the config, the image marked, the container stopped, the requester told', () => {
    given(...scene, requested())
      .when(ApproveRequest, decision)
      .then(
        ApprovalDecided.create({ approvalId: 'appr-1', decision: 'approved', reason: null }),
        expect.objectContaining({ type: 'AgentGroupUpdated', data: expect.objectContaining({ containerConfig: expect.objectContaining({ packages: { apt: ['jq'], npm: [] } }) }) }),
        expect.objectContaining({ type: 'AgentImageRebuildRequested', data: { agentGroupId: 'ag-andy', approvalId: 'appr-1' } }),
        expect.objectContaining({ type: 'ContainerStopRequested', data: expect.objectContaining({ incarnationId: 'inc-1', reason: 'approval-applied' }) }),
        expect.objectContaining({ type: 'AgentNotified', data: expect.objectContaining({ sessionId: 'sess-andy', text: expect.stringContaining('approved') }) }),
      );
  });

  it('records, and does not apply, a decision by anyone but the operator or the admin of the card’s chat', () => {
    given(...scene, requested()).when(ApproveRequest, decision, { actor: 'ag-andy' }).then(refused('not-admin'));
    given(...scene, requested()).when(ApproveRequest, decision, { actor: 'channel:slack:C-ops:U-intruder' }).then(refused('not-admin'));
    given(...scene, requested()).when(RejectRequest, decision, { actor: 'channel:telegram:C-ops:U-boss' }).then(refused('not-admin'));
    given(...scene, requested())
      .when(ApproveRequest, decision, { actor: 'channel:slack:C-ops:U-boss' })
      .then(ApprovalDecided.create({ approvalId: 'appr-1', decision: 'approved', reason: null }), expect.anything(), expect.anything(), expect.anything(), expect.anything());
  });

  it('refuses a payload other than the one shown (tampered after the card)', () => {
    given(...scene, requested({ payload: { ...payload, apt: ['jq', 'netcat'] } })).when(ApproveRequest, decision).then(refused('payload-mismatch'));
    given(...scene, requested()).when(ApproveRequest, { ...decision, payloadHash: payloadHash({ ...payload, apt: ['netcat'] }) }).then(refused('payload-mismatch'));
  });

  it('decides a request once', () => {
    given(...scene, requested(), ApprovalDecided.create({ approvalId: 'appr-1', decision: 'approved', reason: null })).when(ApproveRequest, decision).thenRejects('already-decided');
    given(...scene, requested(), ApprovalDecided.create({ approvalId: 'appr-1', decision: 'rejected', reason: null })).when(RejectRequest, decision).thenRejects('already-decided');
  });

  it('refuses an expired request, which closes itself and tells the requester', () => {
    const expired = requested({ expiresAt: '2026-11-24T11:00:00.000Z' });
    given(...scene, expired).when(ApproveRequest, decision).thenRejects('expired');
    given(...scene, expired)
      .when(ExpireApproval, { approvalId: 'appr-1' })
      .then(expect.objectContaining({ type: 'ApprovalExpired' }), expect.objectContaining({ type: 'AgentNotified', data: expect.objectContaining({ text: expect.stringContaining('expired') }) }));
    given(...scene, requested()).when(ExpireApproval, { approvalId: 'appr-1' }).thenRejects('not-expired');
  });
});

describe('RejectRequest', () => {
  it('closes the request with the reason and tells the requester; nothing is applied', () => {
    given(...scene, requested())
      .when(RejectRequest, { ...decision, reason: 'not now' })
      .then(ApprovalDecided.create({ approvalId: 'appr-1', decision: 'rejected', reason: 'not now' }), expect.objectContaining({ type: 'AgentNotified', data: expect.objectContaining({ text: expect.stringContaining('rejected: not now') }) }));
  });
});
