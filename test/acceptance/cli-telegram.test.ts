import { AGENT_ANSWER_MS, answersBudgetMs } from '../support/wait';
import { join } from 'node:path';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { openDataDir } from '../../src/core';
import { runCli, startCli } from '../support/cli';
import { FakeTelegram } from '../support/fake-telegram';
import { filesHolding } from '../support/files-holding';
import { useTempDir } from '../support/temp';

/** `switchyard start --channels telegram` (the built CLI) against a fake Bot API, with the echo agent as a child process. */
describe('switchyard start --channels telegram (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  let telegram: FakeTelegram;

  beforeEach(async () => {
    telegram = await FakeTelegram.start();
    const core = openDataDir(dataDir());
    try {
      core.bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
      core.bus.dispatch(RegisterMessagingGroup.envelope('mg', { messagingGroupId: 'mg-family', channelType: 'telegram', platformId: 'telegram:-1001', name: 'Family' }));
      core.bus.dispatch(WireChannel.envelope('wire', { messagingGroupId: 'mg-family', agentGroupId: 'ag-andy' }));
    } finally {
      core.close();
    }
  });
  afterEach(() => telegram.close());

  const baseEnv = () => ({
    ...telegram.hostEnv(),
    SWITCHYARD_RUNTIME: 'process',
    SWITCHYARD_RUNNER_POLL_MS: '50',
    SWITCHYARD_POLL_INTERVAL_MS: '20',
    // Everything the host and the SDK log, so a token that slipped into any line is seen.
    SWITCHYARD_LOG_LEVEL: 'debug',
  });
  const family = { id: -1001, type: 'supergroup' as const, title: 'Family' };


  it('takes a message by long polling and answers it with sendMessage; the token is in no log, event, file or status', async () => {
    const host = startCli(['--data-dir', dataDir(), 'start', '--channels', 'telegram'], baseEnv());
    try {
      await host.lines(2);
      expect(host.output()).toContain('telegram channel connected');
      telegram.offerMessage({ chat: family, text: 'hello Andy' });
      const [answer] = await telegram.waitForCalls('sendMessage', 1, AGENT_ANSWER_MS);
      expect(answer!.params).toEqual(expect.objectContaining({ chat_id: '-1001', text: 'echo: hello Andy' }));

      const status = runCli(['--data-dir', dataDir(), 'status', '--json']);
      expect(JSON.parse(status.stdout).host.channels).toEqual([expect.objectContaining({ channelType: 'telegram', connected: true })]);
      expect(status.stdout + runCli(['--data-dir', dataDir(), 'status']).stdout).not.toContain(telegram.token);
    } finally {
      host.child.kill('SIGTERM');
    }
    const { status, stderr } = await host.done;
    expect(status).toBe(0);
    expect(stderr).toContain('"event":"ChatSdkLog"');
    expect(stderr).not.toContain(telegram.token);
    expect(filesHolding(dataDir(), telegram.token)).toEqual([]);
  }, answersBudgetMs(1));

  it('in webhook mode takes updates at the platform-webhook listener, only with the secret token', async () => {
    const secret = 'webhook-secret-token-1';
    const env = { ...baseEnv(), TELEGRAM_MODE: 'webhook', TELEGRAM_WEBHOOK_SECRET_TOKEN: secret };
    const host = startCli(['--data-dir', dataDir(), 'start', '--channels', 'telegram', '--platform-webhook-port', '0'], env);
    try {
      await host.lines(3);
      const url = /platform webhooks listening on (\S+)/.exec(host.output())?.[1];
      expect(url).toBeDefined();
      const update = { update_id: 1, message: { message_id: 5, date: Math.floor(Date.now() / 1000), chat: family, from: { id: 42, is_bot: false, first_name: 'Ann' }, text: 'by webhook' } };
      const post = (headers: Record<string, string>) => fetch(`${url}/telegram`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(update) });
      expect((await fetch(`${url}/slack`, { method: 'POST', body: '{}' })).status).toBe(404);
      expect((await fetch(`${url}/telegram`)).status).toBe(405);
      expect((await post({})).status).toBe(401);
      expect((await post({ 'x-telegram-bot-api-secret-token': secret })).status).toBe(200);
      const [answer] = await telegram.waitForCalls('sendMessage', 1, AGENT_ANSWER_MS);
      expect(answer!.params).toEqual(expect.objectContaining({ chat_id: '-1001', text: 'echo: by webhook' }));
      expect(telegram.callsOf('getUpdates')).toEqual([]);
    } finally {
      host.child.kill('SIGTERM');
    }
    const { status, stderr } = await host.done;
    expect(status).toBe(0);
    expect(stderr).not.toContain(secret);
    expect(filesHolding(dataDir(), secret)).toEqual([]);
  }, answersBudgetMs(1));

  it('refuses to start a channel whose credentials are missing, naming the variable', () => {
    const { TELEGRAM_BOT_TOKEN: _token, ...withoutToken } = baseEnv();
    const refused = runCli(['--data-dir', dataDir(), 'start', '--channels', 'telegram,webhook'], { ...withoutToken, TELEGRAM_BOT_TOKEN: '' });
    expect(refused.status).toBe(2);
    expect(refused.stderr.trim()).toMatch(/^[^\n]*cannot start the telegram channel: TELEGRAM_BOT_TOKEN is not set$/);

    const webhookMode = runCli(['--data-dir', dataDir(), 'start', '--channels', 'telegram'], { ...baseEnv(), TELEGRAM_MODE: 'webhook' });
    expect(webhookMode.status).toBe(2);
    expect(webhookMode.stderr).toContain('TELEGRAM_WEBHOOK_SECRET_TOKEN is not set');

    const unknown = runCli(['--data-dir', dataDir(), 'start'], { ...baseEnv(), SWITCHYARD_CHANNELS: 'telegram,fax' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown channel fax: expected one of webhook, telegram');
  });
});
