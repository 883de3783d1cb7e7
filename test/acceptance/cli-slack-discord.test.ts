import { AGENT_ANSWER_MS, answersBudgetMs } from '../support/wait';
import { join } from 'node:path';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { openDataDir } from '../../src/core';
import { runCli, startCli } from '../support/cli';
import { DISCORD_APPLICATION_ID, discordMessageRequest, FakeDiscord } from '../support/fake-discord';
import { FakeSlack, slackEventRequest } from '../support/fake-slack';
import { filesHolding } from '../support/files-holding';
import { useTempDir } from '../support/temp';

/** `switchyard start --channels slack,discord` (the built CLI) against both fakes, with the echo agent as a child process. */
describe('switchyard start --channels slack,discord (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  let slack: FakeSlack;
  let discord: FakeDiscord;
  const SLACK_BOT_TOKEN = 'xoxb-acceptance-slack-token';
  const SLACK_SIGNING_SECRET = 'acceptance-slack-signing-secret';
  const DISCORD_BOT_TOKEN = 'acceptance-discord-bot-token';

  beforeEach(async () => {
    slack = await FakeSlack.start();
    discord = await FakeDiscord.start();
    const core = openDataDir(dataDir());
    try {
      core.bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
      core.bus.dispatch(RegisterMessagingGroup.envelope('mg-s', { messagingGroupId: 'mg-slack', channelType: 'slack', platformId: 'slack:C100', name: 'Team' }));
      core.bus.dispatch(RegisterMessagingGroup.envelope('mg-d', { messagingGroupId: 'mg-discord', channelType: 'discord', platformId: 'discord:1:100', name: 'Guild' }));
      core.bus.dispatch(WireChannel.envelope('wire-s', { messagingGroupId: 'mg-slack', agentGroupId: 'ag-andy' }));
      core.bus.dispatch(WireChannel.envelope('wire-d', { messagingGroupId: 'mg-discord', agentGroupId: 'ag-andy' }));
    } finally {
      core.close();
    }
  });
  afterEach(async () => {
    await slack.close();
    await discord.close();
  });

  const env = () => ({
    SLACK_BOT_TOKEN,
    SLACK_SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    DISCORD_BOT_TOKEN,
    DISCORD_PUBLIC_KEY: discord.publicKeyHex,
    DISCORD_APPLICATION_ID,
    DISCORD_API_URL: discord.apiUrl,
    DISCORD_GATEWAY: 'forwarded',
    SWITCHYARD_RUNTIME: 'process',
    SWITCHYARD_RUNNER_POLL_MS: '50',
    SWITCHYARD_POLL_INTERVAL_MS: '20',
    // Everything the host and the SDK log, so a secret that slipped into any line is seen.
    SWITCHYARD_LOG_LEVEL: 'debug',
  });


  it('answers a signed Slack event with chat.postMessage and a forwarded Discord message with a channel message; no secret is in any log, file or status', async () => {
    const host = startCli(['--data-dir', dataDir(), 'start', '--channels', 'slack,discord', '--platform-webhook-port', '0'], env());
    try {
      await host.lines(3);
      const url = /platform webhooks listening on (\S+)/.exec(host.output())?.[1];
      expect(url).toBeDefined();

      const event = await fetch(slackEventRequest(`${url}/slack`, SLACK_SIGNING_SECRET, { type: 'message', channel: 'C100', channel_type: 'channel', user: 'U1', text: 'hello from Slack', ts: '1700000100.000100' }));
      expect(event.status).toBe(200);
      const [answer] = await slack.waitFor('chat.postMessage', 1, AGENT_ANSWER_MS);
      expect(answer).toEqual(expect.objectContaining({ channel: 'C100', thread_ts: '1700000100.000100', markdown_text: 'echo: hello from Slack' }));

      const forwarded = await fetch(discordMessageRequest(`${url}/discord`, DISCORD_BOT_TOKEN, { id: '9001', channelId: '100', guildId: '1', authorId: '42', content: 'hello from Discord' }));
      expect(forwarded.status).toBe(200);
      const [posted] = await discord.waitForPosts(1, AGENT_ANSWER_MS);
      expect(posted).toEqual(expect.objectContaining({ channelId: '100', payload: expect.objectContaining({ content: 'echo: hello from Discord' }) }));

      const status = runCli(['--data-dir', dataDir(), 'status', '--json']);
      expect(JSON.parse(status.stdout).host.channels).toEqual([
        expect.objectContaining({ channelType: 'slack', connected: true }),
        expect.objectContaining({ channelType: 'discord', connected: true }),
      ]);
      const shown = status.stdout + runCli(['--data-dir', dataDir(), 'status']).stdout;
      for (const secret of [SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, DISCORD_BOT_TOKEN]) expect(shown).not.toContain(secret);
    } finally {
      host.child.kill('SIGTERM');
    }
    const { status, stdout, stderr } = await host.done;
    expect(status).toBe(0);
    for (const secret of [SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, DISCORD_BOT_TOKEN]) {
      expect(stdout + stderr).not.toContain(secret);
      expect(filesHolding(dataDir(), secret)).toEqual([]);
    }
  }, answersBudgetMs(2));

  it('refuses to start a platform whose variable is missing, naming it, and one that takes webhooks without the listener port', () => {
    const { SLACK_SIGNING_SECRET: _secret, ...withoutSecret } = env();
    const slackRefused = runCli(['--data-dir', dataDir(), 'start', '--channels', 'slack', '--platform-webhook-port', '0'], withoutSecret);
    expect(slackRefused.status).toBe(2);
    expect(slackRefused.stderr).toContain('cannot start the slack channel: SLACK_SIGNING_SECRET is not set');

    const discordRefused = runCli(['--data-dir', dataDir(), 'start', '--channels', 'discord', '--platform-webhook-port', '0'], { ...env(), DISCORD_APPLICATION_ID: '' });
    expect(discordRefused.status).toBe(2);
    expect(discordRefused.stderr).toContain('cannot start the discord channel: DISCORD_APPLICATION_ID is not set');

    const noPort = runCli(['--data-dir', dataDir(), 'start', '--channels', 'discord'], env());
    expect(noPort.status).toBe(2);
    expect(noPort.stderr).toContain('the discord channel takes webhooks: it needs --platform-webhook-port');
  });
});
