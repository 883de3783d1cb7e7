import { RecordDeliveryAttempt, RecordDeliveryRateLimited, RecordDeliveryResult, RetryDelivery } from '../../src/commands/delivery';
import { DeliveryAttempted, DeliveryFailed, DeliveryRateLimited, DeliveryRetryRequested, DeliverySucceeded } from '../../src/events/delivery';
import { SessionOpened } from '../../src/events/inbound';
import { OutboundDropped, OutboundRouted } from '../../src/events/outbound';
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

const finalFailure = (attempt: number) => DeliveryFailed.create({ ...ref, attempt, errorClass: 'NetworkError', error: 'ECONNREFUSED', final: true });
/** Three attempts, each refused: the row failed for good. */
const failedForGood = [attempted(1), failed(1), attempted(2), failed(2), attempted(3), finalFailure(3)];

describe('the attempt limit is in the command', () => {
  it('a host configured for 5 attempts opens a fourth where the default of 3 would not', () => {
    given(...scene, attempted(1), failed(1), attempted(2), failed(2), attempted(3), failed(3)).when(RecordDeliveryAttempt, { ...ref, maxAttempts: 5 }).then(attempted(4));
  });

  it('a host configured for 1 attempt fails the row at its first failure', () => {
    given(...scene, attempted(1))
      .when(RecordDeliveryResult, { ...ref, maxAttempts: 1, attempt: 1, result: { ok: false, errorClass: 'HttpError', error: '503' } })
      .then(DeliveryFailed.create({ ...ref, attempt: 1, errorClass: 'HttpError', error: '503', final: true }));
  });
});

describe('a platform rate limit (429 with retry-after)', () => {
  const rateLimit = { retryAfterMs: 1000, errorClass: 'RateLimited', error: 'platform answered 429, retry after 1000 ms' };

  it('is recorded within the open attempt, which stays open: it is not a failed attempt', () => {
    given(...scene, attempted(1)).when(RecordDeliveryRateLimited, { ...ref, attempt: 1, ...rateLimit }).then(DeliveryRateLimited.create({ ...ref, attempt: 1, ...rateLimit }));
  });

  it('does not use up an attempt: the result after the wait is still attempt 1, and a success settles the row', () => {
    given(...scene, attempted(1), DeliveryRateLimited.create({ ...ref, attempt: 1, ...rateLimit }), DeliveryRateLimited.create({ ...ref, attempt: 1, ...rateLimit }))
      .when(RecordDeliveryResult, { ...ref, attempt: 1, result: { ok: true, platformMessageId: 'pm-1' } })
      .then(DeliverySucceeded.create({ ...ref, attempt: 1, platformMessageId: 'pm-1' }));
  });

  it('is refused for an attempt that is not the open one', () => {
    given(...scene, attempted(1)).when(RecordDeliveryRateLimited, { ...ref, attempt: 2, ...rateLimit }).thenRejects('stale-attempt');
    given(...scene, ...failedForGood).when(RecordDeliveryRateLimited, { ...ref, attempt: 3, ...rateLimit }).thenRejects('stale-attempt');
  });
});

describe('a message the platform took in parts', () => {
  it('records each part’s id in order, the first as the message’s platform id', () => {
    given(...scene, attempted(1))
      .when(RecordDeliveryResult, { ...ref, attempt: 1, result: { ok: true, platformMessageId: 'pm-1', platformMessageIds: ['pm-1', 'pm-2', 'pm-3'] } })
      .then(DeliverySucceeded.create({ ...ref, attempt: 1, platformMessageId: 'pm-1', platformMessageIds: ['pm-1', 'pm-2', 'pm-3'] }));
  });
});

describe('an operator’s retry of a delivery', () => {
  it('of a failed one: a new series is requested, after the attempts already made', () => {
    given(...scene, ...failedForGood).when(RetryDelivery, ref, { actor: 'operator:alice' }).then(DeliveryRetryRequested.create({ ...ref, previousAttempts: 3 }));
  });

  it('opens attempt 4 as the first of the new series, and the series gets its own full count of attempts', () => {
    const retried = DeliveryRetryRequested.create({ ...ref, previousAttempts: 3 });
    given(...scene, ...failedForGood, retried).when(RecordDeliveryAttempt, ref).then(attempted(4));
    given(...scene, ...failedForGood, retried, attempted(4))
      .when(RecordDeliveryResult, { ...ref, attempt: 4, result: { ok: false, errorClass: 'NetworkError', error: 'ECONNREFUSED' } })
      .then(DeliveryFailed.create({ ...ref, attempt: 4, errorClass: 'NetworkError', error: 'ECONNREFUSED', final: false }));
    given(...scene, ...failedForGood, retried, attempted(4), failed(4), attempted(5), failed(5), attempted(6))
      .when(RecordDeliveryResult, { ...ref, attempt: 6, result: { ok: false, errorClass: 'NetworkError', error: 'ECONNREFUSED' } })
      .then(DeliveryFailed.create({ ...ref, attempt: 6, errorClass: 'NetworkError', error: 'ECONNREFUSED', final: true }));
  });

  it('of a delivered one is refused: it would be sent twice', () => {
    given(...scene, attempted(1), DeliverySucceeded.create({ ...ref, attempt: 1, platformMessageId: 'pm-1' })).when(RetryDelivery, ref).thenRejects('already-delivered');
  });

  it('of one still being attempted, or of an unknown one, is refused', () => {
    given(...scene, attempted(1)).when(RetryDelivery, ref).thenRejects('in-progress');
    given(...scene).when(RetryDelivery, { ...ref, outboundId: 'out-404' }).thenRejects('unknown-message');
  });

  it('of a message the ACL dropped is refused: a retry must not get it past the ACL', () => {
    given(
      ...scene,
      OutboundDropped.create({
        sessionId: 'sess-1', agentGroupId: 'ag-andy', outboundId: 'out-3', reason: 'not-permitted', explanation: 'family was revoked',
        target: { type: 'channel', messagingGroupId: 'mg-family', channelType: 'telegram', platformId: '-1001', threadId: null },
        row: {
          id: 'out-3', seq: 5, in_reply_to: null, timestamp: '2026-11-24T10:00:00.000Z', deliver_after: null, recurrence: null, kind: 'chat',
          platform_id: '-1001', channel_type: 'telegram', thread_id: null, content: '{}',
        },
      }),
    )
      .when(RetryDelivery, { ...ref, outboundId: 'out-3' })
      .thenRejects('dropped');
  });

  it('of a message to another agent is refused: it is not a delivery to a chat', () => {
    given(
      ...scene,
      agentGroupCreated('ag-bob'),
      OutboundRouted.create({
        sessionId: 'sess-1', agentGroupId: 'ag-andy', outboundId: 'out-2', seq: 3, kind: 'chat', content: '{}', files: [], inReplyTo: null,
        target: { type: 'agent', agentGroupId: 'ag-bob' },
        acl: { rule: 'destination', localName: 'bob', grantedAt: 4, grantedBy: 'operator:test' },
      }),
    )
      .when(RetryDelivery, { ...ref, outboundId: 'out-2' })
      .thenRejects('not-a-delivery');
  });
});
