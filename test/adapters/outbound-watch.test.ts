import { join } from 'node:path';
import { sessionDir } from '../../src/adapters/session-db';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { writeOutbound } from '../support/container';
import { postInbound } from '../support/fake-platform';
import { useTempDir } from '../support/temp';
import { waitForEvents } from '../support/wait';
import { useWebhookHost } from '../support/webhook-host';

/** Far longer than the test may take: whatever is delivered was found by the folder watch. */
const POLL_MS = 60_000;

describe('outbound rows are picked up when the agent commits them, not at the next poll', () => {
  const tempDir = useTempDir();
  const running = useWebhookHost(tempDir, { SWITCHYARD_POLL_INTERVAL_MS: String(POLL_MS) });

  it('delivers a row written to outbound.db with the poll interval set to a minute', async () => {
    const host = running.host();
    host.core.bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
    host.core.bus.dispatch(RegisterMessagingGroup.envelope('mg', { messagingGroupId: 'mg-family', channelType: 'webhook', platformId: 'fam', name: 'Family' }));
    host.core.bus.dispatch(WireChannel.envelope('wire', { messagingGroupId: 'mg-family', agentGroupId: 'ag-andy' }));
    expect((await postInbound(running.channel().url(), { platformId: 'fam', messageId: 'm-1', content: { text: 'hello Andy' } })).status).toBe(202);
    const [routed] = await waitForEvents(host.core.store, (event) => event.type === 'InboundRouted');
    await host.settled();
    const { sessionId } = routed!.data as { sessionId: string };
    const folder = sessionDir(join(tempDir(), 'data'), 'ag-andy', sessionId);

    writeOutbound(folder, [{ id: 'r-1', channelType: 'webhook', platformId: 'fam', content: { text: 'hi family' } }]);
    await waitForEvents(host.core.store, (event) => event.type === 'DeliverySucceeded', 1, POLL_MS / 3);
    expect(running.platform().received).toMatchObject([{ platformId: 'fam', content: { text: 'hi family' } }]);

    // A second row in the same, now watched, folder: the watch keeps working.
    writeOutbound(folder, [{ id: 'r-2', channelType: 'webhook', platformId: 'fam', content: { text: 'again' } }]);
    await waitForEvents(host.core.store, (event) => event.type === 'DeliverySucceeded', 2, POLL_MS / 3);
  });
});
