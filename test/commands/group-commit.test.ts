import { join } from 'node:path';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { GroupCommitter } from '../../src/commands/group-commit';
import { openCore, type Core } from '../../src/core';
import { useTempDir } from '../support/temp';

const createGroup = (n: number) => CreateAgentGroup.envelope(`create-${n}`, { agentGroupId: `ag-${n}`, name: `Agent ${n}`, folder: `agent-${n}` });
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommitter', () => {
  const tempDir = useTempDir();
  let core: Core;
  beforeEach(() => {
    core = openCore(join(tempDir(), 'switchyard.db'));
  });
  afterEach(() => core.close());

  it('given no traffic before, when a lone caller dispatches, then its command commits on the next turn, without waiting out the gather delay', async () => {
    // An hour's delay: a committer that made a lone caller wait would time this test out.
    const committer = new GroupCommitter(core.bus, { maxWaitMs: 3_600_000 });
    await expect(committer.dispatchOne(createGroup(1))).resolves.toMatchObject({ status: 'accepted' });
  });

  it.each([
    ['the last commit was a lone one, long ago', 20, 40],
    ['one caller in a loop (each command sent as the last is answered, so the last commit was just now)', 1_000, 0],
  ])('given %s, when the next lone caller dispatches, then it does not wait for company that never comes', async (_, maxWaitMs, pauseMs) => {
    const committer = new GroupCommitter(core.bus, { maxWaitMs });
    await committer.dispatchOne(createGroup(1));
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    const before = core.store.committedTransactions();
    const answer = committer.dispatchOne(createGroup(2));
    await nextTurn();
    // Committed on that turn: a committer waiting out its maxWaitMs would not have yet.
    expect(core.store.committedTransactions() - before).toBe(1);
    await expect(answer).resolves.toMatchObject({ status: 'accepted' });
  });

  it('given several clients connected, when the first of their callers dispatches, then it waits for the others and they share one transaction', async () => {
    const committer = new GroupCommitter(core.bus, { maxWaitMs: 60_000, maxCommands: 3 });
    const connections = [committer.clientConnected(), committer.clientConnected(), committer.clientConnected()];
    const before = core.store.committedTransactions();

    const answers = [committer.dispatchOne(createGroup(1))];
    await nextTurn();
    answers.push(committer.dispatchOne(createGroup(2)));
    await nextTurn();
    expect(core.store.committedTransactions() - before).toBe(0);
    answers.push(committer.dispatchOne(createGroup(3)));
    await expect(Promise.all(answers)).resolves.toMatchObject([{ status: 'accepted' }, { status: 'accepted' }, { status: 'accepted' }]);
    expect(core.store.committedTransactions() - before).toBe(1);
    connections.forEach((closed) => closed());
  });

  it('given the last commit was shared, when callers come on separate turns, then they wait for each other and share one transaction', async () => {
    const committer = new GroupCommitter(core.bus, { maxWaitMs: 60_000, maxCommands: 3 });
    await Promise.all([committer.dispatchOne(createGroup(1)), committer.dispatchOne(createGroup(2))]);
    const before = core.store.committedTransactions();

    const answers = [committer.dispatchOne(createGroup(3))];
    await nextTurn();
    answers.push(committer.dispatchOne(createGroup(4)));
    await nextTurn();
    // The third fills the batch (maxCommands), so nobody waits out the minute.
    answers.push(committer.dispatchOne(createGroup(5)));
    await expect(Promise.all(answers)).resolves.toMatchObject([{ status: 'accepted' }, { status: 'accepted' }, { status: 'accepted' }]);
    expect(core.store.committedTransactions() - before).toBe(1);
  });
});
