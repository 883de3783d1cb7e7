import { connect, type Socket } from 'node:net';
import { PlatformWebhookListener } from '../../src/adapters/channels/chat-sdk/webhook-listener';
import { waitUntil } from '../support/wait';

describe('the platform webhook listener', () => {
  it('given the host asks to hear of connections, when platform clients connect and hang up, then it is told of each, so that their messages can share one commit', async () => {
    const listener = new PlatformWebhookListener({ port: 0 });
    let connected = 0;
    await listener.start({
      onClientConnected: () => {
        connected++;
        return () => connected--;
      },
    });
    const { port } = new URL(listener.url());
    const clients: Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) clients.push(connect(Number(port), '127.0.0.1'));
      await waitUntil(() => connected === 2, 'two platform connections reported');
      for (const client of clients) client.destroy();
      await waitUntil(() => connected === 0, 'both closes reported');
    } finally {
      for (const client of clients) client.destroy();
      await listener.stop();
    }
  });
});
