import { waitUntil } from '../support/wait';
import { answer, useFakeMessagesApi } from './fake-messages-api';
import { useRunnerSession } from './harness';

/** The anthropic provider against a loopback server speaking the Messages API. */
describe('agent runner with the anthropic provider', () => {
  const session = useRunnerSession();
  const { receive, rows, acks } = session;
  const api = useFakeMessagesApi();

  const start = (env: Record<string, string> = {}) =>
    session.start({
      SWITCHYARD_AGENT_PROVIDER: 'anthropic',
      ANTHROPIC_API_KEY: 'sk-test',
      ANTHROPIC_BASE_URL: api.url(),
      ...env,
    });

  it('sends the destinations in the system prompt and the attributed message, with the key; writes the answer', async () => {
    api.respond = (_request, response) => api.reply(response, 200, answer('Let me answer.<message to="family">hi</message>'));
    receive('m-1', { text: 'who are you?' }, { threadId: 't-1' });
    start({ SWITCHYARD_ANTHROPIC_MODEL: 'claude-test-model' });
    await waitUntil(() => acks()['m-1'] === 'completed', `m-1 answered\n${session.stderr}`);
    const [request] = api.requests;
    expect(request!.url).toBe('/v1/messages');
    expect(request!.headers['x-api-key']).toBe('sk-test');
    expect(request!.body.model).toBe('claude-test-model');
    expect(request!.body.system).toContain('You are Andy');
    expect(request!.body.system).toContain('- "family" (Family, a telegram chat)');
    expect(request!.body.system).toContain('- "research" (Research, an agent)');
    expect(request!.body.system).toContain('<message to="name">');
    expect(request!.body.messages).toEqual([{ role: 'user', content: '<message from="family" kind="chat">who are you?</message>' }]);
    expect(rows()).toEqual([
      expect.objectContaining({ seq: 1, in_reply_to: 'm-1', channel_type: 'telegram', platform_id: '-1001', thread_id: 't-1', content: JSON.stringify({ text: 'hi' }) }),
    ]);
    await waitUntil(() => session.events('Scratchpad').some((e) => e.text === 'Let me answer.'), 'the untagged text logged');
  });

  it('marks the message failed when the API refuses, and carries on with the next one', async () => {
    api.respond = (_request, response) => {
      api.respond = (_next, ok) => api.reply(ok, 200, answer('<message to="family">second</message>'));
      api.reply(response, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'bad request, on purpose' } });
    };
    receive('m-1', { text: 'first' });
    receive('m-2', { text: 'second' });
    start();
    await waitUntil(() => acks()['m-2'] === 'completed', `m-2 answered\n${session.stderr}`);
    expect(acks()['m-1']).toBe('failed');
    expect(rows()).toEqual([expect.objectContaining({ in_reply_to: 'm-2', content: JSON.stringify({ text: 'second' }) })]);
    await waitUntil(() => session.events('MessageFailed').some((e) => e.messageId === 'm-1' && String(e.error).includes('bad request, on purpose')), 'the failure logged');
  });

  it('finishes the message in hand on SIGTERM, then exits 0', async () => {
    let release: (() => void) | undefined;
    api.respond = (_request, response) => (release = () => api.reply(response, 200, answer('<message to="family">late but sent</message>')));
    receive('m-1', { text: 'take your time' });
    receive('m-2', { text: 'never taken: the runner is stopping' });
    const child = start();
    await waitUntil(() => release !== undefined, `the model call open\n${session.stderr}`);
    child.kill('SIGTERM');
    // Answered only once the runner has seen the signal: it must finish this message, and take no other.
    await waitUntil(() => session.events('StopRequested').length === 1, `the signal seen\n${session.stderr}`);
    expect(child.exitCode).toBeNull();
    release!();
    expect(await session.exited()).toBe(0);
    expect(acks()).toEqual({ 'm-1': 'completed' });
    expect(rows()).toEqual([expect.objectContaining({ in_reply_to: 'm-1', content: JSON.stringify({ text: 'late but sent' }) })]);
    expect(api.requests).toHaveLength(1);
  });

  it('refuses to start without a key', async () => {
    start({ ANTHROPIC_API_KEY: '' });
    expect(await session.exited()).toBe(1);
    expect(session.events('RunnerFailed')[0]!.error).toContain('ANTHROPIC_API_KEY');
  });
});
