import { join } from 'node:path';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { receiveInbound } from '../../src/commands/inbound';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { openDataDir } from '../../src/core';
import { runCli } from '../support/cli';
import { useTempDir } from '../support/temp';

/** The operator stops a recurring task: `tasks list | pause | resume | cancel` (built CLI). */
describe('switchyard tasks', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  const cli = (...args: string[]) => runCli(['--data-dir', dataDir(), ...args], { SWITCHYARD_OPERATOR: 'alice' });
  let sessionId: string;

  beforeEach(() => {
    const core = openDataDir(dataDir());
    try {
      core.bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
      core.bus.dispatch(RegisterMessagingGroup.envelope('mg', { messagingGroupId: 'mg-family', channelType: 'webhook', platformId: 'fam' }));
      core.bus.dispatch(WireChannel.envelope('wire', { messagingGroupId: 'mg-family', agentGroupId: 'ag-andy' }));
      core.bus.dispatch(receiveInbound({ channelType: 'webhook', platformId: 'fam', messageId: '1', content: { text: 'hi' }, timestamp: new Date().toISOString() }));
      sessionId = core.views.sessions.list()[0]!.id;
    } finally {
      core.close();
    }
  });

  it('lists tasks with their status, and pauses, resumes and cancels one; a change its status does not allow exits 1', () => {
    const scheduled = cli('tasks', 'schedule', '--session', sessionId, '--prompt', 'the hourly report', '--every', '0 * * * *');
    expect(scheduled.status).toBe(0);
    const taskId = /scheduled task (\S+)/.exec(scheduled.stdout)![1]!;
    const status = () => (JSON.parse(cli('tasks', 'list', '--json').stdout) as Array<{ task_id: string; status: string }>).map((t) => [t.task_id, t.status]);
    expect(status()).toEqual([[taskId, 'active']]);
    const table = cli('tasks', 'list').stdout.split('\n');
    expect(table[0]).toMatch(/^TASK\s+SESSION\s+STATUS\s+RECURRENCE\s+NEXT DUE\s+OCCURRENCE\s+PROMPT$/);
    expect(table[1]).toContain('0 * * * *');

    expect(cli('tasks', 'pause', taskId).stdout).toContain(`paused task ${taskId} in session ${sessionId}`);
    expect(status()).toEqual([[taskId, 'paused']]);
    const again = cli('tasks', 'pause', taskId);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('task-paused');
    expect(cli('tasks', 'resume', taskId, '--session', sessionId).status).toBe(0);
    expect(status()).toEqual([[taskId, 'active']]);
    expect(cli('tasks', 'cancel', taskId).stdout).toContain(`cancelled task ${taskId}`);
    expect(status()).toEqual([[taskId, 'cancelled']]);
    expect(cli('tasks', 'resume', taskId).status).toBe(1);
    expect(cli('events', '--type', 'TaskCancelled', '--json').stdout).toContain('operator:alice');

    const unknown = cli('tasks', 'cancel', 'task-404');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('unknown-task');
    expect(JSON.parse(cli('tasks', 'list', '--session', 'sess-other', '--json').stdout)).toEqual([]);
  });
});
