import { parentPort } from 'node:worker_threads';
import { toWriteFailure, writeSessionEvents, type WriterReply, type WriterRequest } from './inbound-writer';

/** The inbound.db writer's thread (see WorkerInboundWriter): one write at a time, each answered. */
parentPort!.on('message', ({ id, dir, events }: WriterRequest) => {
  let reply: WriterReply;
  try {
    writeSessionEvents(dir, events);
    reply = { id };
  } catch (error) {
    reply = { id, failure: toWriteFailure(error) };
  }
  parentPort!.postMessage(reply);
});
