import { readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDestinations, DESTINATIONS_FILE, DestinationsFileReactor, writeDestinationsFile } from '../../src/adapters/destinations-file';
import { ReactorRunner } from '../../src/adapters/reactor';
import { sessionDir } from '../../src/adapters/session-db';
import { CreateAgentGroup, DeleteAgentGroup, UpdateAgentGroup } from '../../src/commands/agent-groups';
import type { CommandEnvelope } from '../../src/commands/define';
import { AddDestination, RemoveDestination } from '../../src/commands/destinations';
import { receiveInbound } from '../../src/commands/inbound';
import { RegisterMessagingGroup, UpdateMessagingGroup } from '../../src/commands/messaging-groups';
import { openDataDir, type Core } from '../../src/core';
import { seedScenario } from '../support/scenario';
import { useTempDir } from '../support/temp';

describe('destinations file', () => {
  const tempDir = useTempDir();
  let dataDir: string;
  let core: Core;
  let runner: ReactorRunner;
  let step = 0;

  const dispatch = async (build: (commandId: string) => CommandEnvelope) => {
    expect(core.bus.dispatch(build(`test-${++step}`))).toMatchObject({ status: 'accepted' });
    await runner.caughtUp();
  };
  const sessionsOf = (agentGroupId: string) => core.views.sessions.forAgentGroup(agentGroupId).map((s) => sessionDir(dataDir, agentGroupId, s.id));
  const fileOf = (dir: string) => JSON.parse(readFileSync(join(dir, DESTINATIONS_FILE), 'utf8')) as { destinations: { name: string; displayName: string }[] };
  const namesIn = (dir: string) => fileOf(dir).destinations.map((d) => d.name);
  let andy: string;

  beforeEach(async () => {
    dataDir = join(tempDir(), 'data');
    core = openDataDir(dataDir);
    runner = new ReactorRunner(core.store, new DestinationsFileReactor(dataDir, core));
    runner.start();
    seedScenario(core);
    await runner.caughtUp();
    andy = sessionsOf('ag-andy')[0]!;
  });
  afterEach(() => {
    runner.stop();
    core.close();
  });

  it('states channel and agent destinations exactly in the spec format', async () => {
    await dispatch((id) => RegisterMessagingGroup.envelope(id, { messagingGroupId: 'mg-anon', channelType: 'cli', platformId: 'local' }));
    await dispatch((id) => AddDestination.envelope(id, { agentGroupId: 'ag-andy', localName: 'boss', targetType: 'agent', targetId: 'ag-admin' }));
    await dispatch((id) => AddDestination.envelope(id, { agentGroupId: 'ag-andy', localName: 'anon', targetType: 'channel', targetId: 'mg-anon' }));

    // displayName: the chat's name, else the local name; the agent group's name for agents. Entries in grant order.
    expect(readFileSync(join(andy, DESTINATIONS_FILE), 'utf8')).toBe(`{
  "destinations": [
    {
      "name": "family",
      "displayName": "Family",
      "type": "channel",
      "channelType": "telegram",
      "platformId": "-1001"
    },
    {
      "name": "boss",
      "displayName": "Admin",
      "type": "agent",
      "agentGroupId": "ag-admin"
    },
    {
      "name": "anon",
      "displayName": "anon",
      "type": "channel",
      "channelType": "cli",
      "platformId": "local"
    }
  ]
}`);
    expect(fileOf(andy)).toEqual(buildDestinations(core.views, 'ag-andy'));
  });

  it('lists entries in grant order, so that of two names for one target the first granted is the one the runner shows as from=', async () => {
    await dispatch((id) => AddDestination.envelope(id, { agentGroupId: 'ag-andy', localName: 'zulu', targetType: 'agent', targetId: 'ag-admin' }));
    await dispatch((id) => AddDestination.envelope(id, { agentGroupId: 'ag-andy', localName: 'alpha', targetType: 'agent', targetId: 'ag-admin' }));

    expect(namesIn(andy)).toEqual(['family', 'zulu', 'alpha']);
    // The reference runner names a sender by the first entry that matches it; the host by the first grant.
    expect(core.views.destinations.nameFor('ag-andy', 'agent', 'ag-admin')?.local_name).toBe('zulu');
  });

  it('a removed destination leaves the open session file at once, while the ACL history keeps it', async () => {
    await dispatch((id) => AddDestination.envelope(id, { agentGroupId: 'ag-andy', localName: 'ops', targetType: 'channel', targetId: 'mg-ops' }));
    expect(namesIn(andy)).toEqual(['family', 'ops']);
    const beforeRemoval = core.store.lastPosition();

    await dispatch((id) => RemoveDestination.envelope(id, { agentGroupId: 'ag-andy', localName: 'ops' }));

    expect(namesIn(andy)).toEqual(['family']);
    expect(core.views.destinations.list('ag-andy', beforeRemoval).map((row) => row.local_name)).toEqual(['family', 'ops']);
  });

  it('renames and deletions of targets reach every open session of every agent holding them', async () => {
    await dispatch((id) => CreateAgentGroup.envelope(id, { agentGroupId: 'ag-temp', name: 'Temp', folder: 'temp' }));
    for (const holder of ['ag-andy', 'ag-admin']) {
      await dispatch((id) => AddDestination.envelope(id, { agentGroupId: holder, localName: 'temp', targetType: 'agent', targetId: 'ag-temp' }));
    }
    await dispatch((id) => AddDestination.envelope(id, { agentGroupId: 'ag-admin', localName: 'family', targetType: 'channel', targetId: 'mg-family' }));
    const holders = [andy, ...sessionsOf('ag-admin')];
    expect(holders).toHaveLength(3); // admin has one session per thread
    for (const dir of holders) expect(fileOf(dir).destinations).toContainEqual(expect.objectContaining({ name: 'temp', displayName: 'Temp' }));

    await dispatch((id) => UpdateAgentGroup.envelope(id, { agentGroupId: 'ag-temp', name: 'Temporary' }));
    await dispatch((id) => UpdateMessagingGroup.envelope(id, { messagingGroupId: 'mg-family', name: 'The Family' }));
    for (const dir of holders) {
      expect(fileOf(dir).destinations).toContainEqual(expect.objectContaining({ name: 'temp', displayName: 'Temporary' }));
      expect(fileOf(dir).destinations).toContainEqual(expect.objectContaining({ name: 'family', displayName: 'The Family' }));
    }

    await dispatch((id) => DeleteAgentGroup.envelope(id, { agentGroupId: 'ag-temp' }));
    for (const dir of holders) expect(namesIn(dir)).not.toContain('temp');
    expect(core.views.destinations.find('ag-andy', 'temp')).toBeDefined(); // the row stays; its target is gone
  });

  it('a new session gets its file when it opens', async () => {
    await dispatch(() => receiveInbound({ channelType: 'slack', platformId: 'C42', threadId: 't-new', messageId: 'new', content: { text: 'hi' }, timestamp: '2026-11-24T10:00:00.000Z' }));
    const opened = core.views.sessions.forAgentGroup('ag-admin').find((s) => s.thread_id === 't-new')!;
    expect(namesIn(sessionDir(dataDir, 'ag-admin', opened.id))).toEqual(['ops']);
  });

  it('writes atomically: no temp file left, nothing rewritten when unchanged, a planted symlink replaced', async () => {
    for (let i = 0; i < 5; i++) {
      await dispatch((id) => AddDestination.envelope(id, { agentGroupId: 'ag-andy', localName: `peer ${i}`, targetType: 'agent', targetId: 'ag-research' }));
    }
    const leftovers = [andy, ...sessionsOf('ag-admin')].flatMap((dir) => readdirSync(dir).filter((name) => name !== DESTINATIONS_FILE));
    expect(leftovers).toEqual([]);

    const { ino } = statSync(join(andy, DESTINATIONS_FILE));
    expect(writeDestinationsFile(andy, buildDestinations(core.views, 'ag-andy'))).toBe(false);
    // Andy holds destinations to Research, so this rewrites Andy's file, with the same content.
    await dispatch((id) => UpdateAgentGroup.envelope(id, { agentGroupId: 'ag-research', isAdmin: false }));
    expect(statSync(join(andy, DESTINATIONS_FILE)).ino).toBe(ino);

    const victim = join(tempDir(), 'victim.json');
    writeFileSync(victim, 'keep');
    const [session] = sessionsOf('ag-admin');
    const path = join(session!, DESTINATIONS_FILE);
    rmSync(path);
    symlinkSync(victim, path);
    expect(writeDestinationsFile(session!, buildDestinations(core.views, 'ag-admin'))).toBe(true);
    expect(readFileSync(victim, 'utf8')).toBe('keep');
    expect(namesIn(session!)).toEqual(['ops']);
  });
});
