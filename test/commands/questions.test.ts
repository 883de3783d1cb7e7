import { AnswerCard } from '../../src/commands/questions';
import { ApprovalRequested } from '../../src/events/admin';
import { SessionOpened } from '../../src/events/inbound';
import { OutboundRouted } from '../../src/events/outbound';
import { QuestionAnswered, QuestionAnswerRefused } from '../../src/events/questions';
import { given, idFor } from '../support/decider';
import { agentGroupCreated, chatRegistered, channelWired } from '../support/fixtures';

const scene = [
  agentGroupCreated('ag-andy'),
  chatRegistered('mg-team', { channelType: 'webhook', platformId: 'team' }),
  channelWired('mg-team', 'ag-andy'),
  SessionOpened.create({ sessionId: 'sess-andy', agentGroupId: 'ag-andy', messagingGroupId: 'mg-team', threadId: null, sessionMode: 'shared', agentProvider: null }),
];
/** The agent's ask_question card as the host routed it to its chat. */
const asked = (questionId = 'q-1', options: unknown[] = ['Yes', { label: 'Not now', value: 'later' }], sessionId = 'sess-andy') =>
  OutboundRouted.create({
    sessionId, agentGroupId: 'ag-andy', outboundId: `out-${questionId}-${sessionId}`, seq: 1, kind: 'chat',
    content: JSON.stringify({ type: 'ask_question', questionId, question: 'Deploy now?', options }),
    files: [], inReplyTo: null,
    target: { type: 'channel', messagingGroupId: 'mg-team', channelType: 'webhook', platformId: 'team', threadId: null },
    acl: { rule: 'destination', localName: 'team', grantedAt: 1, grantedBy: 'operator:test' },
  });
const inTeam = { actor: 'channel:webhook:team:U-ann' };
const click = (selectedOption: string, questionId = 'q-1') => ({ questionId, selectedOption });
const refused = (reason: string) => expect.objectContaining({ type: 'QuestionAnswerRefused', data: expect.objectContaining({ questionId: 'q-1', reason }) });

describe('AnswerCard on an agent\'s question (spec §4)', () => {
  it('answers it with the option clicked, by text, label or value, as the clicking user', () => {
    given(...scene, asked()).when(AnswerCard, click('Yes'), inTeam).then(QuestionAnswered.create({ sessionId: 'sess-andy', questionId: 'q-1', messageId: idFor('qresp'), selectedOption: 'Yes', userId: 'U-ann' }));
    given(...scene, asked()).when(AnswerCard, click('later'), inTeam).then(expect.objectContaining({ type: 'QuestionAnswered', data: expect.objectContaining({ selectedOption: 'later' }) }));
    given(...scene, asked()).when(AnswerCard, click('Not now'), inTeam).then(expect.objectContaining({ type: 'QuestionAnswered' }));
  });

  it('records every click that answers nothing, with the reason', () => {
    const answered = QuestionAnswered.create({ sessionId: 'sess-andy', questionId: 'q-1', messageId: 'qresp-1', selectedOption: 'Yes', userId: 'U-bob' });
    given(...scene, asked(), answered).when(AnswerCard, click('Yes'), inTeam).then(refused('already-answered'));
    given(...scene, asked()).when(AnswerCard, click('Yes'), { actor: 'channel:webhook:elsewhere:U-eve' }).then(refused('other-chat'));
    given(...scene, asked()).when(AnswerCard, click('Maybe'), inTeam).then(
      QuestionAnswerRefused.create({ sessionId: 'sess-andy', questionId: 'q-1', reason: 'unknown-option', explanation: 'question q-1 did not offer "Maybe"', selectedOption: 'Maybe', userId: 'U-ann' }),
    );
  });

  it('keeps a question with the session that asked it first', () => {
    const other = SessionOpened.create({ sessionId: 'sess-2', agentGroupId: 'ag-andy', messagingGroupId: null, threadId: null, sessionMode: 'agent-shared', agentProvider: null });
    given(...scene, other, asked(), asked('q-1', ['Yes'], 'sess-2'))
      .when(AnswerCard, click('Yes'), inTeam)
      .then(expect.objectContaining({ type: 'QuestionAnswered', data: expect.objectContaining({ sessionId: 'sess-andy' }) }));
  });

  it('leaves an approval card to the approval, whatever an agent named its question', () => {
    const approval = ApprovalRequested.create({
      approvalId: 'q-1', sessionId: 'sess-andy', agentGroupId: 'ag-andy', outboundId: 'out-9', action: 'request_rebuild', payload: { reason: '' },
      payloadHash: '0'.repeat(64), shownText: 'rebuild', expiresAt: '2026-11-25T09:00:00.000Z', adminChat: { messagingGroupId: 'mg-team', channelType: 'webhook', platformId: 'team' },
    });
    given(...scene, approval, asked()).when(AnswerCard, click('Yes'), inTeam).then(expect.objectContaining({ type: 'ApprovalDecisionRefused', data: expect.objectContaining({ approvalId: 'q-1' }) }));
  });
});
