import { join } from 'node:path';
import { WebhookChannel } from '../../src/adapters/channels/webhook';
import { loadConfig } from '../../src/config';
import { Host } from '../../src/host';
import { createLogger } from '../../src/logger';
import { FakePlatform } from './fake-platform';

/**
 * A host per test with one webhook channel delivering to a fake platform on loopback, no
 * containers (external runtime), under `<tempDir>/data`; stopped after each test.
 */
export function useWebhookHost(tempDir: () => string, env: Record<string, string> = {}): { host: () => Host; channel: () => WebhookChannel; platform: () => FakePlatform } {
  let platform: FakePlatform;
  let channel: WebhookChannel;
  let host: Host;
  beforeEach(async () => {
    platform = await FakePlatform.start();
    channel = new WebhookChannel({ deliverUrl: platform.url });
    const config = loadConfig({ dataDir: join(tempDir(), 'data') }, { SWITCHYARD_RUNTIME: 'external', ...env });
    host = await Host.start(config, { channels: [channel], logger: createLogger('silent') });
  });
  afterEach(async () => {
    await host.stop();
    await platform.close();
  });
  return { host: () => host, channel: () => channel, platform: () => platform };
}
