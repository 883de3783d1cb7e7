import { parentPort } from 'node:worker_threads';
import { settleMessages, toWriteFailure, writeSessionEvents, type WriterReply, type WriterRequest } from './inbound-writer';

/** The inbound.db writer's thread (see WorkerInboundWriter): one write at a time, in the order asked, each answered. */
parentPort!.on('message', ({ id, dir, write }: WriterRequest) => {
  let reply: WriterReply;
  try {
    if (write.kind === 'events') writeSessionEvents(dir, write.events);
    else settleMessages(dir, write.settlements);
    reply = { id };
  } catch (error) {
    reply = { id, failure: toWriteFailure(error) };
  }
  parentPort!.postMessage(reply);
});
