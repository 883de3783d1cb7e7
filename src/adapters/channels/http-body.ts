import type { IncomingMessage, Server } from 'node:http';
import type { ChannelSetup } from './channel';

/**
 * Reads a request's body up to `limit` bytes; undefined when it is longer. Past the limit
 * the rest is drained and discarded rather than cut off: a sender still writing would
 * otherwise see a reset instead of the 413 it is owed.
 */
export function readLimitedBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
    // A sender that hangs up mid-body emits no 'end'; without this the request would stay in flight.
    req.on('close', () => reject(new Error('request closed before its body was complete')));
  });
}

/**
 * Tells the host of each client connection to server as it opens, and of its close, so that
 * several clients' messages share one commit while a lone client's never wait for company
 * (ChannelSetup.onClientConnected).
 */
export function reportClientConnections(server: Server, setup: Pick<ChannelSetup, 'onClientConnected'>): void {
  server.on('connection', (socket) => {
    const closed = setup.onClientConnected?.();
    if (closed) socket.once('close', closed);
  });
}
