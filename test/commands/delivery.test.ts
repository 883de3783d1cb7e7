import { RecordDeliveryAttempt, RecordDeliveryResult } from '../../src/commands/delivery';
import { DeliveryAttempted, DeliveryFailed } from '../../src/events/delivery';
import { SessionOpened } from '../../src/events/inbound';
import { OutboundRouted } from '../../src/events/outbound';
import { given } from '../support/decider';
import { agentGroupCreated, chatRegistered } from '../support/fixtures';

const scene = [
  agentGroupCreated('ag-andy'),
  chatRegistered('mg-family', { channelType: 'telegram', platformId: '-1001', name: 'Family' }),
  SessionOpened.create({ sessionId: 'sess-1', agentGroupId: 'ag-andy', messagingGroupId: 'mg-family', threadId: null, sessionMode: 'shared', agentProvider: null }),
  OutboundRouted.create({
    sessionId: 'sess-1', agentGroupId: 'ag-andy', outboundId: 'out-1', seq: 1, kind: 'chat', content: '{}', files: [], inReplyTo: null,
    target: { type: 'channel', messagingGroupId: 'mg-family', channelType: 'telegram', platformId: '-1001', threadId: null },
    acl: { rule: 'destination', localName: 'family', grantedAt: 4, grantedBy: 'operator:test' },
  }),
];
const ref = { sessionId: 'sess-1', outboundId: 'out-1' };
const attempted = (attempt: number) => DeliveryAttempted.create({ ...ref, attempt });
const failed = (attempt: number) => DeliveryFailed.create({ ...ref, attempt, errorClass: 'HttpError', error: '503', final: false });

describe('an attempt whose result was never recorded (the host died mid-call)', () => {
  it('counts as an attempt: the next one opens, the platform dedupes a resend by its idempotency key', () => {
    given(...scene, attempted(1)).when(RecordDeliveryAttempt, ref).then(attempted(2));
  });

  it('when it was the last allowed attempt, the row fails for good with the unknown outcome as evidence, and no fourth attempt opens', () => {
    given(...scene, attempted(1), failed(1), attempted(2), failed(2), attempted(3))
      .when(RecordDeliveryAttempt, ref)
      .then(
        DeliveryFailed.create({
          ...ref, attempt: 3, errorClass: 'AttemptInterrupted', final: true,
          error: expect.stringMatching(/attempt 3 .*no result was recorded.*unknown.*attempts-exhausted/),
        }),
      );
  });

  it('a late result of that attempt is refused once the row has failed', () => {
    const interrupted = DeliveryFailed.create({ ...ref, attempt: 3, errorClass: 'AttemptInterrupted', error: 'unknown', final: true });
    given(...scene, attempted(1), failed(1), attempted(2), failed(2), attempted(3), interrupted)
      .when(RecordDeliveryResult, { ...ref, attempt: 3, result: { ok: true, platformMessageId: 'pm-1' } })
      .thenRejects('stale-attempt');
    given(...scene, attempted(1), failed(1), attempted(2), failed(2), attempted(3), interrupted).when(RecordDeliveryAttempt, ref).thenRejects('not-deliverable');
  });
});
