import { ApproveRequest, ExpireApproval, RecordApprovalCardAttempt, RecordApprovalCardResult, RejectRequest } from '../../src/commands/approvals';
import { AnswerCard } from '../../src/commands/questions';
import { payloadHash } from '../../src/commands/system-actions';
import { ApprovalCardAttempted, ApprovalCardFailed, ApprovalCardSent, ApprovalDecided, ApprovalDecisionRefused, ApprovalExpired, ApprovalRequested } from '../../src/events/admin';
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

  it('decides a request once; a second decision is refused and recorded', () => {
    given(...scene, requested(), ApprovalDecided.create({ approvalId: 'appr-1', decision: 'approved', reason: null }))
      .when(ApproveRequest, decision)
      .then(ApprovalDecisionRefused.create({ approvalId: 'appr-1', decision: 'approved', reason: 'already-decided', explanation: 'approval appr-1 is already approved' }));
    given(...scene, requested(), ApprovalDecided.create({ approvalId: 'appr-1', decision: 'rejected', reason: null })).when(RejectRequest, decision).then(refused('already-decided'));
    given(...scene, requested(), ApprovalExpired.create({ approvalId: 'appr-1', expiresAt: '2026-11-25T09:00:00.000Z' })).when(ApproveRequest, decision).then(refused('already-decided'));
    given(...scene).when(ApproveRequest, decision).thenRejects('unknown-approval');
  });

  it('refuses, and records, a decision on an expired request, which closes itself and tells the requester', () => {
    const expired = requested({ expiresAt: '2026-11-24T11:00:00.000Z' });
    given(...scene, expired)
      .when(ApproveRequest, decision)
      .then(ApprovalDecisionRefused.create({ approvalId: 'appr-1', decision: 'approved', reason: 'expired', explanation: 'approval appr-1 expired at 2026-11-24T11:00:00.000Z' }));
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

describe('AnswerCard (a click on a card)', () => {
  const boss = { actor: 'channel:slack:C-ops:U-boss' };
  const click = (selectedOption: string, questionId = 'appr-1') => ({ questionId, selectedOption });

  it('decides as the clicking user, for the payload the card showed', () => {
    given(...scene, requested())
      .when(AnswerCard, click('Approve'), boss)
      .then(ApprovalDecided.create({ approvalId: 'appr-1', decision: 'approved', reason: null }), expect.anything(), expect.anything(), expect.anything(), expect.anything());
    given(...scene, requested())
      .when(AnswerCard, click('Reject'), boss)
      .then(ApprovalDecided.create({ approvalId: 'appr-1', decision: 'rejected', reason: null }), expect.objectContaining({ type: 'AgentNotified' }));
  });

  it('records every refused click, with the reason an operator would ask for', () => {
    given(...scene, requested())
      .when(AnswerCard, click('Approve', 'appr-404'), boss)
      .then(ApprovalDecisionRefused.create({ approvalId: 'appr-404', decision: null, reason: 'unknown-request', explanation: 'no approval request appr-404' }));
    given(...scene, requested())
      .when(AnswerCard, click('Maybe'), boss)
      .then(ApprovalDecisionRefused.create({ approvalId: 'appr-1', decision: null, reason: 'unknown-option', explanation: 'unknown option "Maybe": expected Approve or Reject' }));
    given(...scene, requested(), ApprovalDecided.create({ approvalId: 'appr-1', decision: 'rejected', reason: null })).when(AnswerCard, click('Approve'), boss).then(refused('already-decided'));
    given(...scene, requested({ expiresAt: '2026-11-24T11:00:00.000Z' })).when(AnswerCard, click('Reject'), boss).then(refused('expired'));
    given(...scene, requested()).when(AnswerCard, click('Approve'), { actor: 'channel:slack:C-ops:U-intruder' }).then(refused('not-admin'));
  });
});

describe('approval cards: each attempt and its result in the log', () => {
  const card = { approvalId: 'appr-1' };
  const attempted = (attempt: number) => ApprovalCardAttempted.create({ ...card, attempt });
  const failed = (attempt: number, final: boolean) => ApprovalCardFailed.create({ ...card, attempt, errorClass: 'HttpError', error: '503', final });
  const failure = { ok: false as const, errorClass: 'HttpError', error: '503' };

  it('opens attempts counted from the log', () => {
    given(...scene, requested()).when(RecordApprovalCardAttempt, card).then(attempted(1));
    given(...scene, requested(), attempted(1), failed(1, false)).when(RecordApprovalCardAttempt, card).then(attempted(2));
  });

  it('records the result; the third failure, or one not worth retrying, is final', () => {
    given(...scene, requested(), attempted(1))
      .when(RecordApprovalCardResult, { ...card, attempt: 1, result: { ok: true, platformMessageId: 'pm-1' } })
      .then(ApprovalCardSent.create({ ...card, attempt: 1, platformMessageId: 'pm-1' }));
    given(...scene, requested(), attempted(1)).when(RecordApprovalCardResult, { ...card, attempt: 1, result: failure }).then(failed(1, false));
    given(...scene, requested(), attempted(1)).when(RecordApprovalCardResult, { ...card, attempt: 1, result: { ...failure, retryable: false } }).then(failed(1, true));
    given(...scene, requested(), attempted(1), failed(1, false), attempted(2), failed(2, false), attempted(3))
      .when(RecordApprovalCardResult, { ...card, attempt: 3, result: failure })
      .then(failed(3, true));
    given(...scene, requested(), attempted(1)).when(RecordApprovalCardResult, { ...card, attempt: 2, result: failure }).thenRejects('stale-attempt');
  });

  it('fails the card for good when the host died during its last attempt', () => {
    given(...scene, requested(), attempted(1), failed(1, false), attempted(2), failed(2, false), attempted(3))
      .when(RecordApprovalCardAttempt, card)
      .then(ApprovalCardFailed.create({ ...card, attempt: 3, errorClass: 'AttemptInterrupted', error: expect.stringContaining('unknown'), final: true }));
  });

  it('sends no card once it was sent or failed, or the request is closed', () => {
    given(...scene, requested(), attempted(1), ApprovalCardSent.create({ ...card, attempt: 1, platformMessageId: null })).when(RecordApprovalCardAttempt, card).thenRejects('no-card-due');
    given(...scene, requested(), attempted(1), failed(1, true)).when(RecordApprovalCardAttempt, card).thenRejects('no-card-due');
    given(...scene, requested(), ApprovalDecided.create({ approvalId: 'appr-1', decision: 'approved', reason: null })).when(RecordApprovalCardAttempt, card).thenRejects('no-card-due');
    given(...scene).when(RecordApprovalCardAttempt, card).thenRejects('no-card-due');
  });
});
