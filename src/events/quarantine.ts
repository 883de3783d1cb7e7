import { z } from 'zod';
import { defineEvent } from './define';
import { sessionStream } from './inbound';
import { Id } from './primitives';

/**
 * Why a session folder was set aside: a link or a non-regular file where the contract
 * has a file or folder (`unsafe-path`), a session database the host cannot read as one
 * (`unreadable-database`: garbage, a dropped table), or a failure that kept coming back
 * until the host stopped retrying (`persistent-failure`: an agent holding a lock).
 */
export const QuarantineReason = z.enum(['unsafe-path', 'unreadable-database', 'persistent-failure']);
export type QuarantineReason = z.infer<typeof QuarantineReason>;

/**
 * The host stopped touching a session folder: its agent is stopped, nothing is written to
 * or read from the folder, and every other session goes on. Messages routed to it meanwhile
 * stay in the log and reach the folder when an operator releases it.
 */
export const SessionQuarantined = defineEvent({
  type: 'SessionQuarantined',
  version: 1,
  schema: z.object({
    sessionId: Id,
    agentGroupId: Id,
    reason: QuarantineReason,
    /** The part of the host that found it: session-folder, outbound-poller, delivery, sweep… */
    component: z.string(),
    /** The check that failed, as the host saw it. */
    detail: z.string(),
    /** What the component was doing (event type and position, outbound row id…). */
    evidence: z.record(z.string(), z.unknown()),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

/** An operator fixed the folder: the host materializes it again from the log and resumes. */
export const SessionReleased = defineEvent({
  type: 'SessionReleased',
  version: 1,
  schema: z.object({ sessionId: Id, agentGroupId: Id }),
  stream: (data) => sessionStream(data.sessionId),
});

export const quarantineEvents = [SessionQuarantined, SessionReleased];
