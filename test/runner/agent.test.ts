import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { RouteOutbound } from '../../src/commands/outbound';
import { AnswerCard } from '../../src/commands/questions';
import { DestinationAdded } from '../../src/events/destinations';
import { SessionOpened } from '../../src/events/inbound';
import { OutboundRouted } from '../../src/events/outbound';
import { given } from '../support/decider';
import { agentGroupCreated, channelWired, chatRegistered } from '../support/fixtures';
import { waitUntil } from '../support/wait';
import { answer, toolUse, useFakeMessagesApi, type ApiRequest } from './fake-messages-api';
import { useRunnerSession, type OutRow } from './harness';

const HISTORY = '.switchyard-history.jsonl';

/** The host's side of the runner's session: Andy's session in the "family" chat (telegram -1001, as in the harness's map), and an admin with a chat to ask in. */
const scene = [
  agentGroupCreated('ag-andy', { name: 'Andy', folder: 'andy' }),
  agentGroupCreated('ag-admin', { isAdmin: true, name: 'Admin', folder: 'admin' }),
  chatRegistered('mg-family', { channelType: 'telegram', platformId: '-1001', name: 'Family' }),
  chatRegistered('mg-ops', { channelType: 'slack', platformId: 'C-ops', name: 'Ops' }),
  channelWired('mg-family', 'ag-andy'),
  channelWired('mg-ops', 'ag-admin'),
  DestinationAdded.create({ agentGroupId: 'ag-andy', localName: 'family', targetType: 'channel', targetId: 'mg-family' }),
  SessionOpened.create({ sessionId: 'sess-andy', agentGroupId: 'ag-andy', messagingGroupId: 'mg-family', threadId: null, sessionMode: 'shared', agentProvider: null }),
  SessionOpened.create({ sessionId: 'sess-admin', agentGroupId: 'ag-admin', messagingGroupId: 'mg-ops', threadId: null, sessionMode: 'shared', agentProvider: null }),
];
/** The host deciding a row the runner wrote, with its own decider, now. */
const hostDecides = (sessionId: string, row: OutRow) => given(...scene).when(RouteOutbound, { sessionId, row }, { issuedAt: new Date().toISOString() });
const event = (type: string, data: Record<string, unknown> = {}) => expect.objectContaining({ type, data: expect.objectContaining(data) });

const toolNames = (request: ApiRequest) => (request.body.tools ?? []).map((tool) => tool.name);
const lastMessage = (request: ApiRequest) => request.body.messages.at(-1)!;
const toolResults = (message: Anthropic.MessageParam) => (message.content as Anthropic.ToolResultBlockParam[]).filter((block) => block.type === 'tool_result');

/** The anthropic provider as an agent: its tool loop, history and prompt, against a loopback fake of the Messages API. */
describe('agent runner with the anthropic provider: tools, history, prompt', () => {
  const session = useRunnerSession();
  const { receive, rows, acks } = session;
  const api = useFakeMessagesApi();
  const start = (env: Record<string, string> = {}) =>
    session.start({ SWITCHYARD_AGENT_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: api.url(), ...env });
  const handled = (id: string) => waitUntil(() => acks()[id] === 'completed', `${id} handled\n${session.stderr}`);
  const historyLines = () => readFileSync(join(session.dir(), HISTORY), 'utf8').trim().split('\n');

  it('sends with send_message routed like a block, gives the tool result back to the model, and still sends the blocks of its final text', async () => {
    api.script(toolUse(['send_message', { to: 'team', text: 'heads up' }], ['send_message', { to: 'family', text: 'on it' }]), answer('<message to="family">done</message>'));
    receive('m-1', { text: 'tell the team' }, { threadId: 't-1' });
    start();
    await handled('m-1');
    expect(rows()).toEqual([
      expect.objectContaining({ seq: 1, kind: 'chat', in_reply_to: 'm-1', channel_type: 'slack', platform_id: 'C42', thread_id: null, content: JSON.stringify({ text: 'heads up' }) }),
      // The chat the message came from: its thread, as for a block.
      expect.objectContaining({ seq: 3, kind: 'chat', channel_type: 'telegram', platform_id: '-1001', thread_id: 't-1', content: JSON.stringify({ text: 'on it' }) }),
      expect.objectContaining({ seq: 5, kind: 'chat', channel_type: 'telegram', platform_id: '-1001', thread_id: 't-1', content: JSON.stringify({ text: 'done' }) }),
    ]);
    expect(api.requests).toHaveLength(2);
    const [first, second] = api.requests;
    expect(second!.body.messages).toHaveLength(3);
    expect(second!.body.messages.slice(0, 2)).toEqual(first!.body.messages.concat({ role: 'assistant', content: expect.any(Array) }));
    const results = toolResults(lastMessage(second!));
    expect(results.map((r) => r.tool_use_id)).toEqual((second!.body.messages[1]!.content as Anthropic.ToolUseBlockParam[]).map((b) => b.id));
    expect(results.map((r) => r.content)).toEqual([expect.stringMatching(/^submitted: out-.* to "team"$/), expect.stringMatching(/^submitted: out-.* to "family"$/)]);
    expect(results.every((r) => !r.is_error)).toBe(true);
  });

  it('writes each action as the host reads it: schedule_task, ask_question and install_packages pass the host’s own decider', async () => {
    // The session databases' own form (spec §2), the one the reference's agents write.
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 19).replace('T', ' ');
    api.script(
      toolUse(
        ['schedule_task', { prompt: 'water the plants', processAfter: tomorrow, recurrence: '0 8 * * *' }],
        ['ask_question', { question: 'Deploy now?', options: ['Yes', 'No'] }],
        ['install_packages', { apt: ['jq'], npm: ['@scope/pkg@^2.0.0'], reason: 'parsing' }],
      ),
      answer('<internal>all asked</internal>'),
    );
    receive('m-1', { text: 'do things' }, { threadId: 't-1' });
    start();
    await handled('m-1');
    const [task, question, packages] = rows();
    expect(task).toEqual(expect.objectContaining({ seq: 1, kind: 'system', channel_type: null, platform_id: null, in_reply_to: 'm-1' }));
    expect(JSON.parse(task!.content)).toEqual(
      expect.objectContaining({ action: 'schedule_task', taskId: expect.stringMatching(/^task-/), prompt: 'water the plants', recurrence: '0 8 * * *', channelType: 'telegram', platformId: '-1001', threadId: 't-1' }),
    );
    hostDecides('sess-andy', task!).then(
      event('TaskScheduled', { taskId: JSON.parse(task!.content).taskId, prompt: 'water the plants', recurrence: '0 8 * * *', channelType: 'telegram', platformId: '-1001', threadId: 't-1' }),
      event('SystemActionAccepted', { action: 'schedule_task' }),
    );

    expect(question).toEqual(expect.objectContaining({ seq: 3, kind: 'chat', channel_type: 'telegram', platform_id: '-1001', thread_id: 't-1' }));
    const card = JSON.parse(question!.content) as { questionId: string };
    expect(card).toEqual({ type: 'ask_question', questionId: expect.stringMatching(/^q-/), question: 'Deploy now?', options: ['Yes', 'No'] });
    // Routed by the host to the chat, the card is a pending question a click there answers.
    hostDecides('sess-andy', question!).then(event('OutboundRouted', { outboundId: question!.id }));
    const routed = OutboundRouted.create({
      sessionId: 'sess-andy', agentGroupId: 'ag-andy', outboundId: question!.id, seq: 3, kind: 'chat', content: question!.content, files: [], inReplyTo: 'm-1',
      target: { type: 'channel', messagingGroupId: 'mg-family', channelType: 'telegram', platformId: '-1001', threadId: 't-1' },
      acl: { rule: 'destination', localName: 'family', grantedAt: 1, grantedBy: 'operator:test' },
    });
    given(...scene, routed)
      .when(AnswerCard, { questionId: card.questionId, selectedOption: 'Yes' }, { actor: 'channel:telegram:-1001:U-ann' })
      .then(event('QuestionAnswered', { sessionId: 'sess-andy', questionId: card.questionId, selectedOption: 'Yes', userId: 'U-ann' }));

    expect(packages).toEqual(expect.objectContaining({ seq: 5, kind: 'system' }));
    expect(JSON.parse(packages!.content)).toEqual({ action: 'install_packages', apt: ['jq'], npm: ['@scope/pkg@^2.0.0'], reason: 'parsing' });
    hostDecides('sess-andy', packages!).then(
      event('ApprovalRequested', { action: 'install_packages', payload: { apt: ['jq'], npm: ['@scope/pkg@^2.0.0'], reason: 'parsing' } }),
      event('SystemActionAccepted', { action: 'install_packages' }),
      event('AgentNotified'),
    );
    const results = toolResults(lastMessage(api.requests[1]!));
    expect(results.map((r) => r.content)).toEqual([
      `submitted: task ${JSON.parse(task!.content).taskId}`,
      `submitted: ${question!.id} to "family"; question ${card.questionId}`,
      expect.stringMatching(/^submitted: install_packages out-.*approval/),
    ]);
  });

  it('writes reactions, edits, task changes, MCP servers and rebuilds in the shapes the host takes', async () => {
    api.script(
      toolUse(
        ['add_reaction', { messageId: 'tg-777', emoji: 'thumbs_up' }],
        ['edit_message', { to: 'team', messageId: 'out-first', text: 'fixed' }],
        ['cancel_task', { taskId: 'task-1' }],
        ['pause_task', { taskId: 'task-2' }],
        ['resume_task', { taskId: 'task-3' }],
        ['add_mcp_server', { name: 'search', command: 'npx', args: ['-y', 'search-mcp'], env: { API_URL: 'https://example.test' } }],
        ['request_rebuild', { reason: 'new packages' }],
      ),
      answer(''),
    );
    receive('m-1', { text: 'go' });
    start();
    await handled('m-1');
    expect(rows().map((r) => [r.seq, r.kind, r.channel_type, r.platform_id, JSON.parse(r.content)])).toEqual([
      [1, 'chat', 'telegram', '-1001', { operation: 'reaction', messageId: 'tg-777', emoji: 'thumbs_up' }],
      [3, 'chat', 'slack', 'C42', { operation: 'edit', messageId: 'out-first', text: 'fixed' }],
      [5, 'system', null, null, { action: 'cancel_task', taskId: 'task-1' }],
      [7, 'system', null, null, { action: 'pause_task', taskId: 'task-2' }],
      [9, 'system', null, null, { action: 'resume_task', taskId: 'task-3' }],
      [11, 'system', null, null, { action: 'add_mcp_server', name: 'search', command: 'npx', args: ['-y', 'search-mcp'], env: { API_URL: 'https://example.test' } }],
      [13, 'system', null, null, { action: 'request_rebuild', reason: 'new packages' }],
    ]);
    hostDecides('sess-andy', rows()[5]!).then(event('ApprovalRequested', { action: 'add_mcp_server' }), event('SystemActionAccepted'), event('AgentNotified'));
  });

  it('offers create_agent only to an admin agent group, whose request the host carries out', async () => {
    api.script(answer('<internal>nothing</internal>'));
    receive('m-1', { text: 'hi' });
    const child = start({ NANOCLAW_IS_ADMIN: '0' });
    await handled('m-1');
    expect(toolNames(api.requests[0]!)).toEqual([
      'send_message', 'add_reaction', 'edit_message', 'ask_question', 'schedule_task', 'cancel_task', 'pause_task', 'resume_task', 'install_packages', 'add_mcp_server', 'request_rebuild',
    ]);
    child.kill('SIGTERM');
    await session.exited();

    api.script(toolUse(['create_agent', { name: 'Worker One', instructions: 'Be brief.' }]), answer('<internal>created</internal>'));
    receive('m-2', { text: 'make a worker' });
    start({ NANOCLAW_IS_ADMIN: '1' });
    await handled('m-2');
    expect(toolNames(api.requests[1]!)).toContain('create_agent');
    const [row] = rows();
    expect(JSON.parse(row!.content)).toEqual({ action: 'create_agent', requestId: expect.stringMatching(/^req-/), name: 'Worker One', instructions: 'Be brief.' });
    hostDecides('sess-admin', row!).then(
      event('AgentGroupCreated', { name: 'Worker One', folder: 'worker-one' }),
      event('AgentInstructionsSet', { instructions: 'Be brief.' }),
      event('DestinationAdded', { localName: 'worker-one' }),
      event('DestinationAdded', { localName: 'parent' }),
      event('SystemActionAccepted', { action: 'create_agent' }),
      event('AgentNotified'),
    );
  });

  it('answers an invalid package name, a bad time or a missing field with a tool error, and writes no row', async () => {
    api.script(
      toolUse(
        ['install_packages', { apt: ['jq; rm -rf /'], npm: ['lodash'], reason: 'x' }],
        ['install_packages', { reason: 'nothing named' }],
        ['schedule_task', { prompt: 'later', processAfter: 'tomorrow morning' }],
        ['send_message', { to: 'family' }],
        ['no_such_tool', {}],
      ),
      answer(''),
    );
    receive('m-1', { text: 'install' });
    start();
    await handled('m-1');
    expect(rows()).toEqual([]);
    const results = toolResults(lastMessage(api.requests[1]!));
    expect(results.map((r) => [r.is_error, r.content])).toEqual([
      [true, expect.stringContaining('apt package "jq; rm -rf /": not a valid package name')],
      [true, expect.stringContaining('at least one package')],
      [true, expect.stringContaining('"tomorrow morning" is not a time')],
      [true, 'send_message not submitted: text is required'],
      [true, 'no tool named no_such_tool'],
    ]);
  });

  it('stops a message’s tool loop after 8 rounds (logged), answers every tool call, and carries on with the next message', async () => {
    api.respond = (_request, response) => api.reply(response, 200, toolUse(['send_message', { to: 'family', text: 'again' }]));
    receive('m-1', { text: 'loop' });
    start();
    await waitUntil(() => api.requests.length === 9, `nine calls\n${session.stderr}`);
    api.script(answer('<message to="family">back to normal</message>'));
    await handled('m-1');
    expect(rows().filter((r) => r.in_reply_to === 'm-1')).toHaveLength(8);
    await waitUntil(() => session.events('ToolRoundsExhausted').length > 0, 'the stop logged');
    expect(session.events('ToolRoundsExhausted')).toEqual([expect.objectContaining({ messageId: 'm-1', rounds: 8, tools: ['send_message'] })]);
    receive('m-2', { text: 'hello' });
    await handled('m-2');
    expect(api.requests).toHaveLength(10);
    // The next request is a valid conversation: the last tool call has its result, and the turn ends with the assistant.
    const messages = api.requests[9]!.body.messages;
    expect(messages.slice(-3).map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(toolResults(messages.at(-3)!)).toEqual([expect.objectContaining({ is_error: true, content: expect.stringContaining('at most 8 rounds') })]);
    expect(rows().at(-1)).toEqual(expect.objectContaining({ in_reply_to: 'm-2', content: JSON.stringify({ text: 'back to normal' }) }));
  });

  it('continues the conversation after a restart of the runner, from its own file in the session folder', async () => {
    api.script(toolUse(['send_message', { to: 'family', text: 'noted' }]), answer('<message to="family">I will remember</message>'));
    receive('m-1', { text: 'my name is Ann' });
    const first = start();
    await handled('m-1');
    first.kill('SIGTERM');
    expect(await session.exited()).toBe(0);
    const firstTurn = api.requests[1]!.body.messages.concat({ role: 'assistant', content: [{ type: 'text', text: '<message to="family">I will remember</message>' }] });

    api.script(answer('<message to="family">Ann</message>'));
    receive('m-2', { text: 'what is my name?' });
    start();
    await handled('m-2');
    expect(api.requests[2]!.body.messages).toEqual([...firstTurn, { role: 'user', content: '<message from="family" kind="chat">what is my name?</message>' }]);
    expect(historyLines()).toHaveLength(2);
  });

  it('keeps the history bounded by whole turns, a tool call always with its result', async () => {
    receive('m-1', { text: 'one' });
    receive('m-2', { text: 'two' });
    receive('m-3', { text: 'three' });
    api.script(answer('1'), toolUse(['send_message', { to: 'family', text: 'two' }]), answer('2'), answer('3'));
    start({ SWITCHYARD_HISTORY_MAX_TURNS: '2' });
    await handled('m-3');
    expect(historyLines().map((line) => JSON.parse(line).messages[0].content)).toEqual([
      '<message from="family" kind="chat">two</message>',
      '<message from="family" kind="chat">three</message>',
    ]);
    receive('m-4', { text: 'four' });
    api.script(answer('4'));
    await handled('m-4');
    const sent = api.requests.at(-1)!.body.messages;
    // Turn "one" dropped whole; turn "two" with its tool call and result.
    expect(sent.map((m) => (typeof m.content === 'string' ? m.content : m.content.map((b) => b.type).join(',')))).toEqual([
      '<message from="family" kind="chat">two</message>',
      'tool_use',
      'tool_result',
      'text',
      '<message from="family" kind="chat">three</message>',
      'text',
      '<message from="family" kind="chat">four</message>',
    ]);
  });

  it('drops the oldest turns past the character budget, and skips a line a crash cut short', async () => {
    const turn = (n: number) => JSON.stringify({ messages: [{ role: 'user', content: `old ${n} ${'x'.repeat(300)}` }, { role: 'assistant', content: [{ type: 'text', text: 'ok' }] }] });
    writeFileSync(join(session.dir(), HISTORY), `${turn(1)}\n${turn(2)}\n${turn(3)}\n{"messages":[{"role":"us`);
    api.script(answer('<message to="family">hi</message>'));
    receive('m-1', { text: 'hello' });
    // Room for two old turns and a little: the new turn (longer than that little) pushes out one more.
    start({ SWITCHYARD_HISTORY_MAX_CHARS: String(2 * turn(1).length + 50) });
    await handled('m-1');
    const sent = api.requests[0]!.body.messages;
    expect(sent.map((m) => (typeof m.content === 'string' ? m.content.slice(0, 5) : 'answer'))).toEqual(['old 2', 'answer', 'old 3', 'answer', '<mess']);
    // Within the budget once the new turn is in: "old 2" went too.
    expect(historyLines().map((line) => JSON.parse(line).messages[0].content.slice(0, 5))).toEqual(['old 3', '<mess']);
  });

  it('shows an answer to its question with the question it asked', async () => {
    api.script(toolUse(['ask_question', { question: 'Deploy now?', options: ['Yes', 'No'] }]), answer(''));
    receive('m-1', { text: 'ask them' });
    const first = start();
    await handled('m-1');
    const { questionId } = JSON.parse(rows()[0]!.content) as { questionId: string };
    // A restart in between: the question is remembered from the history file.
    first.kill('SIGTERM');
    await session.exited();
    api.script(answer('<message to="family">deploying</message>'));
    receive('qr-1', { type: 'question_response', questionId, selectedOption: 'Yes', userId: 'U-ann' }, { kind: 'system', channelType: null, platformId: null });
    start();
    await handled('qr-1');
    expect(lastMessage(api.requests[2]!)).toEqual({ role: 'user', content: `<message from="unknown" kind="system">U-ann answered your question ${questionId} ("Deploy now?"): Yes</message>` });
    // The first turn's empty final text went back as a placeholder: the API refuses an empty text block.
    expect(JSON.stringify(api.requests[2]!.body.messages)).not.toContain('"text":""');
  });

  it('tells the model its group’s instructions and how to use its tools, beside the destinations', async () => {
    const group = join(session.dir(), '..', 'group');
    mkdirSync(group);
    writeFileSync(join(group, 'CLAUDE.md'), 'Always answer in French.\n');
    receive('m-1', { text: 'hi' });
    start({ SWITCHYARD_AGENT_DIR: group });
    await handled('m-1');
    const { system } = api.requests[0]!.body;
    expect(system).toContain('You are Andy');
    expect(system).toContain('Always answer in French.');
    expect(system).toContain('- "family" (Family, a telegram chat)');
    expect(system).toContain('only say "submitted"');
  });
});
