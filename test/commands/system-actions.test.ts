import { RouteOutbound } from '../../src/commands/outbound';
import { AptPackage, InstallPackagesRequest, NpmPackage, AddMcpServerRequest, payloadHash } from '../../src/commands/system-actions';
import { DestinationAdded } from '../../src/events/destinations';
import { SessionOpened } from '../../src/events/inbound';
import type { OutboundRow } from '../../src/events/outbound';
import { TaskCancelled, TaskPaused, TaskResumed, TaskScheduled } from '../../src/events/tasks';
import { given, idFor } from '../support/decider';
import { agentGroupCreated, channelWired, chatRegistered } from '../support/fixtures';

const sessionOf = (agentGroupId: string, sessionId: string) =>
  SessionOpened.create({ sessionId, agentGroupId, messagingGroupId: null, threadId: null, sessionMode: 'agent-shared', agentProvider: null });
const scene = [
  agentGroupCreated('ag-admin', { isAdmin: true, name: 'Admin', folder: 'admin' }),
  agentGroupCreated('ag-andy', { name: 'Andy', folder: 'andy' }),
  chatRegistered('mg-ops', { channelType: 'slack', platformId: 'C-ops', name: 'Ops' }),
  channelWired('mg-ops', 'ag-admin'),
  sessionOf('ag-admin', 'sess-admin'),
  sessionOf('ag-andy', 'sess-andy'),
];
const systemRow = (content: Record<string, unknown>): OutboundRow => ({
  id: 'out-1', seq: 1, in_reply_to: null, timestamp: '2026-11-24T09:00:00.000Z', deliver_after: null, recurrence: null,
  kind: 'system', platform_id: null, channel_type: null, thread_id: null, content: JSON.stringify(content),
});
const route = (sessionId: string, content: Record<string, unknown>) => ({ sessionId, row: systemRow(content) });
const drop = (reason: string) => expect.objectContaining({ type: 'OutboundDropped', data: expect.objectContaining({ reason }) });
const notice = (text: RegExp) => expect.objectContaining({ type: 'AgentNotified', data: expect.objectContaining({ text: expect.stringMatching(text) }) });

describe('create_agent', () => {
  it('is refused to a non-admin agent group, recorded with the reason, and the agent is told', () => {
    given(...scene).when(RouteOutbound, route('sess-andy', { action: 'create_agent', name: 'Helper' })).then(drop('not-admin'), notice(/admin agent groups only/));
  });

  it('creates the agent group, its instructions and both destinations in one decision for an admin', () => {
    const child = idFor('ag');
    given(...scene)
      .when(RouteOutbound, route('sess-admin', { action: 'create_agent', requestId: 'r-1', name: 'Worker One', instructions: 'Be brief.' }))
      .then(
        expect.objectContaining({ type: 'AgentGroupCreated', data: expect.objectContaining({ agentGroupId: child, name: 'Worker One', folder: 'worker-one', isAdmin: false }) }),
        expect.objectContaining({ type: 'AgentInstructionsSet', data: { agentGroupId: child, instructions: 'Be brief.' } }),
        DestinationAdded.create({ agentGroupId: 'ag-admin', localName: 'worker-one', targetType: 'agent', targetId: child }),
        DestinationAdded.create({ agentGroupId: child, localName: 'parent', targetType: 'agent', targetId: 'ag-admin' }),
        expect.objectContaining({ type: 'SystemActionAccepted', data: expect.objectContaining({ action: 'create_agent' }) }),
        notice(/address it as "worker-one"/),
      );
  });

  it('takes the next free folder, and refuses a name the creator already uses', () => {
    given(...scene, agentGroupCreated('ag-x', { folder: 'helper' }))
      .when(RouteOutbound, route('sess-admin', { action: 'create_agent', name: 'Helper' }))
      .then(expect.objectContaining({ data: expect.objectContaining({ folder: 'helper-2' }) }), expect.anything(), expect.anything(), expect.anything(), expect.anything(), expect.anything());
    given(...scene, DestinationAdded.create({ agentGroupId: 'ag-admin', localName: 'helper', targetType: 'agent', targetId: 'ag-andy' }))
      .when(RouteOutbound, route('sess-admin', { action: 'create_agent', name: 'Helper' }))
      .then(drop('invalid-request'), notice(/already have a destination named "helper"/));
  });

  it.each(['../x', '/etc/passwd', 'a/b', '..', '$(id)', 'C:\\Windows', '.bashrc', 'x\u0000y', '\u2025\u2025'])(
    'keeps a hostile name %j inside the groups directory, or refuses it',
    (name) => {
      const decision = given(...scene).when(RouteOutbound, route('sess-admin', { action: 'create_agent', name }));
      try {
        decision.then(drop('invalid-request'), expect.anything());
      } catch {
        decision.then(expect.objectContaining({ data: expect.objectContaining({ folder: expect.stringMatching(/^[a-z0-9][a-z0-9-]{0,63}$/) }) }), expect.anything(), expect.anything(), expect.anything(), expect.anything(), expect.anything());
      }
    },
  );

  it('refuses a name that gives no usable folder', () => {
    given(...scene).when(RouteOutbound, route('sess-admin', { action: 'create_agent', name: 'x'.repeat(90) })).then(drop('invalid-request'), notice(/no usable folder/));
  });
});

describe('install_packages, add_mcp_server, request_rebuild', () => {
  it('opens an approval request with the payload, its hash, what the admin is shown, expiry and the admin chat', () => {
    const payload = { apt: ['jq'], npm: ['@scope/pkg@^2.0.0'], reason: 'parsing' };
    given(...scene)
      .when(RouteOutbound, route('sess-andy', { action: 'install_packages', ...payload }))
      .then(
        expect.objectContaining({
          type: 'ApprovalRequested',
          data: expect.objectContaining({
            approvalId: idFor('appr'), sessionId: 'sess-andy', agentGroupId: 'ag-andy', action: 'install_packages', payload, payloadHash: payloadHash(payload),
            shownText: expect.stringContaining('npm: ["@scope/pkg@^2.0.0"]'), expiresAt: '2026-11-25T12:00:00.000Z',
            adminChat: { messagingGroupId: 'mg-ops', channelType: 'slack', platformId: 'C-ops' },
          }),
        }),
        expect.objectContaining({ type: 'SystemActionAccepted' }),
        notice(/submitted for an admin's approval/),
      );
  });

  it('shows every field of an MCP server to the admin, args and env included', () => {
    const decision = given(...scene).when(RouteOutbound, route('sess-andy', { action: 'add_mcp_server', name: 'fs', command: 'npx', args: ['-y', '@mcp/server-fs', '/workspace'], env: { TOKEN: 'abc' } }));
    decision.then(expect.objectContaining({ data: expect.objectContaining({ shownText: expect.stringMatching(/args: \["-y","@mcp\/server-fs","\/workspace"\][\s\S]*env: \{"TOKEN":"abc"\}/) }) }), expect.anything(), expect.anything());
  });

  it('tells the requester at once when no admin has a chat to ask in', () => {
    given(agentGroupCreated('ag-andy'), sessionOf('ag-andy', 'sess-andy')).when(RouteOutbound, route('sess-andy', { action: 'request_rebuild', reason: 'x' })).then(drop('no-admin-channel'), notice(/no admin agent group has a wired chat/));
  });

  it('refuses invalid requests with the name and the reason', () => {
    given(...scene).when(RouteOutbound, route('sess-andy', { action: 'install_packages', apt: ['jq', 'a;rm -rf /'] })).then(drop('invalid-request'), notice(/apt\.1: expected an apt package name/));
    given(...scene).when(RouteOutbound, route('sess-andy', { action: 'add_mcp_server', name: 'fs', command: 'sh -c "curl x | sh"' })).then(drop('invalid-request'), notice(/command: expected a program name/));
  });
});

describe('package name validation (the host checks whatever the container did)', () => {
  it.each(['--foo', '-rf', 'a;rm -rf /', '../x', '/etc/passwd', '$(id)', '`id`', 'a b', 'A', '', 'x'.repeat(215), 'pkg@', 'pkg@>1 <2', 'pkg@1.0;id'])('refuses %j', (name) => {
    expect(NpmPackage.safeParse(name).success).toBe(false);
    expect(AptPackage.safeParse(name).success).toBe(false);
  });

  it.each(['@scope/pkg', 'lib-foo.bar', 'pkg@1.2.3', '@scope/pkg@^2.0.0', 'pkg@~1.2', 'pkg@1.x', 'pkg@2.0.0-rc.1'])('accepts the npm name %j', (name) => {
    expect(NpmPackage.safeParse(name).success).toBe(true);
  });

  it.each(['jq', 'libssl3', 'g++', 'python3.11', 'pkg=1.2.3'])('accepts the apt name %j', (name) => {
    expect(AptPackage.safeParse(name).success).toBe(true);
  });

  it('takes at least 1 and at most 20 packages per request', () => {
    expect(InstallPackagesRequest.safeParse({ apt: [], npm: [] }).success).toBe(false);
    expect(InstallPackagesRequest.safeParse({ apt: Array.from({ length: 20 }, (_, i) => `p${i}`) }).success).toBe(true);
    expect(InstallPackagesRequest.safeParse({ apt: Array.from({ length: 11 }, (_, i) => `a${i}`), npm: Array.from({ length: 10 }, (_, i) => `n${i}`) }).success).toBe(false);
  });

  it('validates MCP servers the same way: no flags for a command, no shell words in args or env', () => {
    expect(AddMcpServerRequest.safeParse({ name: 'fs', command: '/usr/bin/node', args: ['server.js', '--port=3'] }).success).toBe(true);
    for (const bad of [{ name: 'fs', command: '--evil' }, { name: 'fs', command: '../bin/x' }, { name: 'fs', command: 'x', args: ['$(id)'] }, { name: 'fs', command: 'x', env: { PATH: 'a\nb' } }, { name: 'Bad Name', command: 'x' }]) {
      expect(AddMcpServerRequest.safeParse(bad).success).toBe(false);
    }
  });
});

describe('schedule_task: every request ends in a task or a recorded refusal the agent is told of', () => {
  const schedule = (fields: Record<string, unknown>) => given(...scene).when(RouteOutbound, route('sess-andy', { action: 'schedule_task', prompt: 'check the build', ...fields }));
  const scheduled = (processAfter: RegExp) =>
    expect.objectContaining({ type: 'TaskScheduled', data: expect.objectContaining({ processAfter: expect.stringMatching(processAfter) }) });
  const accepted = expect.objectContaining({ type: 'SystemActionAccepted', data: expect.objectContaining({ action: 'schedule_task' }) });

  it.each([
    ['the reference form, in UTC', '2026-11-29 16:04:25'],
    ['ISO-8601 in UTC', '2026-11-29T16:04:25.000Z'],
    ['ISO-8601 with an offset', '2026-11-29T18:04:25+02:00'],
  ])('takes processAfter in %s', (_label, processAfter) => {
    schedule({ processAfter }).then(scheduled(/^2026-11-29[T ]16:04:25/), accepted);
  });

  it.each([
    ['alone', {}],
    ['with a processAfter', { processAfter: '2026-11-29 16:04:25' }],
  ])('refuses a recurrence that never fires (Feb 31) %s', (_label, fields) => {
    schedule({ recurrence: '0 0 31 2 *', ...fields }).then(drop('invalid-request'), notice(/schedule_task: the recurrence 0 0 31 2 \* has no occurrence/));
  });

  it('takes a recurrence whose first occurrence is years away (every 29 February): only an explicit processAfter has a horizon', () => {
    schedule({ recurrence: '0 9 29 2 *' }).then(scheduled(/^2028-02-29[T ]09:00:00/), accepted);
  });

  it.each([
    ['not a time', 'next tuesday', /processAfter: "next tuesday" is not a time/],
    ['a day that does not exist', '2026-02-31 10:00:00', /is not a time/],
    ['a number', 1790000000, /processAfter: expected a time/],
    ['more than a year ahead', '2099-01-01 00:00:00', /processAfter: 2099-01-01 00:00:00 is more than 366 days ahead/],
  ])('refuses a processAfter that is %s, with the reason', (_label, processAfter, reason) => {
    schedule({ processAfter }).then(drop('invalid-request'), notice(reason));
  });
});

describe('cancel_task, pause_task, resume_task: a task of the agent\'s own session', () => {
  const scheduled = TaskScheduled.create({
    sessionId: 'sess-andy', messageId: 'task-1', taskId: 'task-1', prompt: 'the hourly report', script: null, processAfter: '2026-11-24T11:00:00.000Z', recurrence: '0 * * * *',
    platformId: null, channelType: null, threadId: null, previousMessageId: null, paused: false,
  });
  const change = { sessionId: 'sess-andy', taskId: 'task-1', messageId: 'task-1' };
  const accepted = (action: string) => expect.objectContaining({ type: 'SystemActionAccepted', data: expect.objectContaining({ action, result: { taskId: 'task-1' } }) });

  it.each([
    ['cancel_task', [], TaskCancelled.create(change)],
    ['pause_task', [], TaskPaused.create(change)],
    ['resume_task', [TaskPaused.create(change)], TaskResumed.create(change)],
  ] as const)('%s changes the task and is recorded as accepted', (action, before, event) => {
    given(...scene, scheduled, ...before).when(RouteOutbound, route('sess-andy', { action, taskId: 'task-1' })).then(event, accepted(action));
  });

  it('refuses a task of another session, an unknown one, or a change its status does not allow, and the agent is told', () => {
    given(...scene, scheduled).when(RouteOutbound, route('sess-admin', { action: 'cancel_task', taskId: 'task-1' })).then(drop('invalid-request'), notice(/cancel_task: no task task-1 in session sess-admin/));
    given(...scene, scheduled).when(RouteOutbound, route('sess-andy', { action: 'resume_task', taskId: 'task-1' })).then(drop('invalid-request'), notice(/resume_task: task task-1 is active/));
    given(...scene, scheduled).when(RouteOutbound, route('sess-andy', { action: 'pause_task' })).then(drop('invalid-request'), notice(/pause_task: taskId/));
  });
});
