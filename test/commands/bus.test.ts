import { join } from 'node:path';
import { firstValueFrom, take, toArray } from 'rxjs';
import { CommandIdConflictError, CommandValidationError, UnknownCommandError } from '../../src/commands/bus';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { AddDestination, RemoveDestination } from '../../src/commands/destinations';
import { RegisterMessagingGroup } from '../../src/commands/messaging-groups';
import { openCore, type Core } from '../../src/core';
import { useTempDir } from '../support/temp';

const grant = (id: string, localName = 'family', agentGroupId = 'ag-1') =>
  AddDestination.envelope(id, { agentGroupId, localName, targetType: 'channel', targetId: 'mg-1' }, { actor: 'operator:alice' });

describe('CommandBus', () => {
  const tempDir = useTempDir();
  let core: Core;
  beforeEach(() => {
    core = openCore(join(tempDir(), 'switchyard.db'), { clock: () => new Date('2026-11-24T10:00:00.000Z') });
    core.bus.dispatch(CreateAgentGroup.envelope('setup-ag', { agentGroupId: 'ag-1', name: 'Andy', folder: 'andy' }));
    core.bus.dispatch(RegisterMessagingGroup.envelope('setup-mg', { messagingGroupId: 'mg-1', channelType: 'telegram', platformId: '-100' }));
  });
  afterEach(() => core.close());

  // Counted past the two set-up commands.
  const eventCount = () => core.store.lastPosition() - 2;
  const commandCount = () => (core.store.db.prepare('SELECT count(*) FROM commands').pluck().get() as number) - 2;
  const eventsAfterSetup = () => [...core.store.readAll({ after: 2 })];

  it('given a command with non-ASCII text, when it is recorded, then its payload hash is the one earlier versions stored (a retry across an upgrade still matches)', () => {
    core.bus.dispatch(AddDestination.envelope('cmd-1', { agentGroupId: 'ag-1', localName: 'zoë', targetType: 'channel', targetId: 'mg-1' }));
    const stored = core.store.db.prepare("SELECT payload_hash FROM commands WHERE command_id = 'cmd-1'").pluck().get();
    expect(stored).toBe('48da3082dd28ed1bbd05df92bb021e0a7b231ca7fa549b4eef61ded1b2020f59');
  });

  it('appends the decided events with full metadata and projects them in the same transaction', () => {
    const outcome = core.bus.dispatch(grant('cmd-1'));
    expect(outcome).toMatchObject({ status: 'accepted', duplicate: false, events: [{ position: 3, type: 'DestinationAdded', stream: 'agent-group-ag-1' }] });
    const [event] = eventsAfterSetup();
    expect(event!.metadata).toEqual({
      commandId: 'cmd-1',
      correlationId: 'cmd-1',
      causationId: 'cmd-1',
      actor: 'operator:alice',
      recordedAt: '2026-11-24T10:00:00.000Z',
    });
    expect(core.views.destinations.find('ag-1', 'family')).toMatchObject({ target_id: 'mg-1', granted_at: 3, granted_by: 'operator:alice' });
  });

  it('carries correlation and causation ids given on the envelope', () => {
    core.bus.dispatch({ ...grant('cmd-2'), correlationId: 'corr-9', causationId: 'evt-parent' });
    expect(eventsAfterSetup()[0]!.metadata).toMatchObject({ correlationId: 'corr-9', causationId: 'evt-parent' });
  });

  it('returns the first outcome for a repeated command id and appends nothing', () => {
    const first = core.bus.dispatch(grant('cmd-1'));
    const again = core.bus.dispatch(grant('cmd-1'));
    expect(again).toEqual({ ...first, duplicate: true });
    expect(eventCount()).toBe(1);
  });

  it('returns the first rejection for a repeated rejected command', () => {
    core.bus.dispatch(grant('cmd-1'));
    const rejected = core.bus.dispatch(grant('cmd-2'));
    expect(rejected).toMatchObject({ status: 'rejected', code: 'name-taken', duplicate: false });
    core.bus.dispatch(RemoveDestination.envelope('cmd-3', { agentGroupId: 'ag-1', localName: 'family' }));
    expect(core.bus.dispatch(grant('cmd-2'))).toEqual({ ...rejected, duplicate: true });
  });

  it('refuses the same command id with a different payload as a conflict', () => {
    core.bus.dispatch(grant('cmd-1', 'family'));
    expect(() => core.bus.dispatch(grant('cmd-1', 'friends'))).toThrow(CommandIdConflictError);
    expect(eventCount()).toBe(1);
  });

  it('names the field path and what was expected when the payload is invalid', () => {
    const bad = { type: 'AddDestination', commandId: 'cmd-1', payload: { agentGroupId: 'ag-1', localName: 7, targetType: 'room', targetId: 'mg-1' } };
    let error: CommandValidationError | undefined;
    try {
      core.bus.dispatch(bad);
    } catch (e) {
      error = e as CommandValidationError;
    }
    expect(error).toBeInstanceOf(CommandValidationError);
    expect(error!.issues.map((issue) => issue.path)).toEqual(['payload.localName', 'payload.targetType']);
    expect(error!.message).toMatch(/payload\.localName: .*expected string/);
    expect(error!.message).toMatch(/payload\.targetType: .*"channel"\|"agent"/);
    expect(eventCount()).toBe(0);
    expect(commandCount()).toBe(0);
  });

  it('rejects an envelope without a command id, and an unknown command type', () => {
    expect(() => core.bus.dispatch({ type: 'AddDestination', payload: {} })).toThrow(/commandId: .*expected string/);
    expect(() => core.bus.dispatch({ type: 'LaunchRocket', commandId: 'x', payload: {} })).toThrow(UnknownCommandError);
  });

  it('group commit: a failing or rejected command in a batch rolls back only itself', () => {
    const results = core.bus.dispatchBatch([
      grant('b-1', 'one'),
      { type: 'AddDestination', commandId: 'b-2', payload: { agentGroupId: 'ag-1' } },
      grant('b-3', 'one'),
      grant('b-4', 'two'),
      grant('b-1', 'one'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['accepted', 'failed', 'rejected', 'accepted', 'accepted']);
    expect(results[4]).toMatchObject({ duplicate: true });
    expect(results[1]).toMatchObject({ commandId: 'b-2', error: expect.any(CommandValidationError) });
    expect(eventCount()).toBe(2);
    expect(core.views.destinations.list('ag-1').map((d) => d.local_name)).toEqual(['one', 'two']);
  });

  it('group commit: an exception inside one command undoes its partial writes only', () => {
    const explode = { ...AddDestination, type: 'Explode', decide: () => { throw new Error('decider bug'); } };
    core.bus.register(explode);
    const results = core.bus.dispatchBatch([grant('b-1', 'one'), { type: 'Explode', commandId: 'b-2', payload: grant('x').payload }, grant('b-3', 'two')]);
    expect(results.map((r) => r.status)).toEqual(['accepted', 'failed', 'accepted']);
    expect(commandCount()).toBe(2);
  });

  it('group commit: a command that throws after its first events and projection rows were written leaves no trace, and the rest of the batch commits', () => {
    // Its first stream appends (event + destinations row); the second stream's event is invalid, so the append throws mid-command.
    const halfWrite = {
      ...AddDestination,
      type: 'HalfWrite',
      decide: (...args: Parameters<typeof AddDestination.decide>) => {
        const decision = AddDestination.decide(...args);
        if (!Array.isArray(decision)) throw new Error('expected AddDestination to accept');
        return [...decision, { stream: 'agent-group-ag-2', type: 'DestinationAdded', schemaVersion: 1, data: {} }];
      },
    };
    core.bus.register(halfWrite);
    const results = core.bus.dispatchBatch([grant('b-1', 'one'), { ...grant('b-2', 'half'), type: 'HalfWrite' }, grant('b-3', 'two')]);
    expect(results.map((r) => r.status)).toEqual(['accepted', 'failed', 'accepted']);
    expect(eventsAfterSetup().map((e) => e.metadata.commandId)).toEqual(['b-1', 'b-3']);
    expect(commandCount()).toBe(2);
    expect(core.views.destinations.list('ag-1').map((d) => d.local_name)).toEqual(['one', 'two']);
    expect(core.views.destinations.find('ag-1', 'half')).toBeUndefined();
  });

  it('group commit: a batch whose commands all succeed runs in one transaction, without a savepoint per command or per append', () => {
    const transactions = jest.spyOn(core.store, 'transaction');
    const results = core.bus.dispatchBatch([grant('b-1', 'one'), grant('b-2', 'two'), grant('b-3', 'three')]);
    expect(results.map((r) => r.status)).toEqual(['accepted', 'accepted', 'accepted']);
    expect(transactions).toHaveBeenCalledTimes(1);
  });

  it('group commit: a batch reads the commands table for its ids in one query, and a repeated id in it still finds the first one', () => {
    const statement = Object.getPrototypeOf(core.store.db.prepare('SELECT 1')) as { get: (...args: unknown[]) => unknown; all: (...args: unknown[]) => unknown };
    const commandReads: string[] = [];
    const count = (method: 'get' | 'all') => {
      const original = statement[method];
      return jest.spyOn(statement, method).mockImplementation(function (this: { source: string }, ...args: unknown[]) {
        if (this.source.includes('FROM commands WHERE command_id')) commandReads.push(method);
        return original.apply(this, args);
      });
    };
    const spies = [count('get'), count('all')];
    const results = core.bus.dispatchBatch([grant('b-1', 'one'), grant('b-2', 'two'), grant('b-3', 'three'), grant('b-1', 'one')]);
    expect(results.map((r) => [r.status, 'duplicate' in r && r.duplicate])).toEqual([
      ['accepted', false],
      ['accepted', false],
      ['accepted', false],
      ['accepted', true],
    ]);
    // One read for the batch, one more for the id it holds twice.
    spies.forEach((spy) => spy.mockRestore());
    expect(commandReads).toEqual(['all', 'get']);
  });

  it('group commit: a batch with a failing command is redone with one savepoint per command, and only the failing one is lost', () => {
    const explode = { ...AddDestination, type: 'Explode', decide: () => { throw new Error('decider bug'); } };
    core.bus.register(explode);
    const transactions = jest.spyOn(core.store, 'transaction');
    const committed = core.store.committedTransactions();
    const results = core.bus.dispatchBatch([grant('b-1', 'one'), { type: 'Explode', commandId: 'b-2', payload: grant('x').payload }, grant('b-3', 'two')]);
    expect(results.map((r) => r.status)).toEqual(['accepted', 'failed', 'accepted']);
    // The optimistic pass, the redo, and one savepoint for each of the three commands.
    expect(transactions).toHaveBeenCalledTimes(5);
    expect(core.store.committedTransactions() - committed).toBe(1);
    expect(eventsAfterSetup().map((e) => e.metadata.commandId)).toEqual(['b-1', 'b-3']);
  });

  it('publishes events to subscribers only after the transaction commits', async () => {
    const seen = firstValueFrom(core.store.subscribe({ after: 2 }).pipe(take(2), toArray()));
    expect(() =>
      core.store.transaction(() => {
        core.bus.dispatch(grant('rolled-back', 'ghost'));
        throw new Error('abort the outer transaction');
      }),
    ).toThrow('abort');
    core.bus.dispatchBatch([grant('c-1', 'one'), grant('c-2', 'two')]);
    const events = await seen;
    expect(events.map((e) => e.metadata.commandId)).toEqual(['c-1', 'c-2']);
    expect(core.views.destinations.find('ag-1', 'ghost')).toBeUndefined();
  });
});
