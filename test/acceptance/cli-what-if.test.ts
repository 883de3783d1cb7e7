import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sessionDir } from '../../src/adapters/session-db';
import { loadConfig } from '../../src/config';
import type { RecordedEvent } from '../../src/events/define';
import { Host } from '../../src/host';
import { createLogger } from '../../src/logger';
import { runCli } from '../support/cli';
import { writeOutbound } from '../support/container';
import { seedScenario } from '../support/scenario';
import { waitForEvents } from '../support/wait';

describe('switchyard what-if (built CLI)', () => {
  let root: string;
  const dataDir = () => join(root, 'data');
  const cli = (...args: string[]) => runCli(['--data-dir', dataDir(), ...args]);
  const json = (...args: string[]) => {
    const result = cli(...args, '--json');
    expect(result.stderr).toBe('');
    return JSON.parse(result.stdout);
  };
  const flipped = (report: { flips: Array<{ messageId: string; recorded: { verdict: string }; proposed: { verdict: string }; cause: string }> }) =>
    report.flips.map((f) => [f.messageId, f.recorded.verdict, f.proposed.verdict, f.cause]);
  let firstOutboundDecision: number;

  /** The scenario's history, plus Andy writing twice to the family chat and once to the revoked research bot. */
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'switchyard-what-if-'));
    const host = await Host.start(loadConfig({ dataDir: dataDir() }, { SWITCHYARD_POLL_INTERVAL_MS: '20', SWITCHYARD_RUNTIME: 'external' }), { channels: [], logger: createLogger('silent') });
    try {
      seedScenario(host.core);
      await host.settled();
      const session = host.core.views.sessions.forAgentGroup('ag-andy')[0]!;
      writeOutbound(sessionDir(dataDir(), 'ag-andy', session.id), [
        { id: 'to-family-1', channelType: 'telegram', platformId: '-1001', content: { text: 'dinner at 7' } },
        { id: 'to-family-2', channelType: 'telegram', platformId: '-1001', content: { text: 'bring bread' } },
        { id: 'r-revoked', channelType: 'agent', platformId: 'ag-research', content: { text: 'research this' } },
        // How the built-in runner writes a block to a name its map lacks: no routing fields, the name in content.to.
        { id: 'asked-weather', content: { text: 'rain tomorrow?', to: 'weather' } },
      ]);
      const decided = (id: string) => (e: RecordedEvent) => e.type.startsWith('Outbound') && (e.data as { outboundId?: string }).outboundId === id;
      const events = await Promise.all(['to-family-1', 'to-family-2', 'r-revoked', 'asked-weather'].map((id) => waitForEvents(host.core.store, decided(id))));
      firstOutboundDecision = Math.min(...events.map((found) => found[0]!.position));
    } finally {
      await host.stop();
    }
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('revoking one destination flips exactly the rows it permitted, and writes nothing', () => {
    const before = json('status').log.lastPosition;
    const report = json('what-if', '--remove', 'ag-andy:family');
    expect(flipped(report)).toEqual([
      ['to-family-1', 'routed by "family"', 'dropped: not-permitted', 'change'],
      ['to-family-2', 'routed by "family"', 'dropped: not-permitted', 'change'],
    ]);
    expect(report.byAgentGroup).toEqual([{ agentGroupId: 'ag-andy', routedToDropped: 2, droppedToRouted: 0 }]);
    expect(report.decisions).toBe(9);
    expect(report.applied).toEqual([{ type: 'RemoveDestination', events: ['DestinationRemoved'] }]);
    expect(json('status').log.lastPosition).toBe(before);
    expect(json('acl', 'ag-andy').destinations.map((d: { local_name: string }) => d.local_name)).toContain('family');
  });

  it('gives the same report when the window is judged in worker threads', () => {
    const inProcess = json('what-if', '--remove', 'ag-andy:family', '--threads', '1');
    const threaded = json('what-if', '--remove', 'ag-andy:family', '--threads', '3');
    expect(threaded).toEqual(inProcess);
    const refused = cli('what-if', '--remove', 'ag-andy:nope', '--threads', '2');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('removeDestinations[0]: RemoveDestination refused (no-such-destination)');
  });

  it('tells how far the re-judging has come on stderr, in-process and in worker threads', () => {
    const last = json('status').log.lastPosition;
    for (const threads of ['1', '2']) {
      const run = runCli(['--data-dir', dataDir(), 'what-if', '--remove', 'ag-andy:family', '--threads', threads, '--json'], { SWITCHYARD_PROGRESS: '1' });
      expect(run.status).toBe(0);
      expect(run.stderr).toContain(`re-judging positions: ${last}/${last}`);
    }
  });

  it('granting a destination again flips the drop it caused back to routed', () => {
    const report = json('what-if', '--add', 'ag-andy:research=agent:ag-research');
    expect(flipped(report)).toEqual([['r-revoked', 'dropped: not-permitted', 'routed by "research"', 'change']]);
    expect(report.byAgentGroup).toEqual([{ agentGroupId: 'ag-andy', routedToDropped: 0, droppedToRouted: 1 }]);
  });

  it('granting the very name an unknown-destination drop asked for flips it to routed', () => {
    const report = json('what-if', '--add', 'ag-andy:weather=agent:ag-admin');
    expect(flipped(report)).toEqual([['asked-weather', 'dropped: unknown-destination', 'routed by "weather"', 'change']]);
  });

  it('unwiring re-judges inbound decisions, within a window and for one agent group', () => {
    const report = json('what-if', '--unwire', 'mg-family:ag-andy', '--agent-group', 'ag-andy', '--until', String(firstOutboundDecision - 1));
    expect(flipped(report)).toEqual([[expect.stringMatching(/^msg-/), 'routed to ag-andy', 'dropped: no-agent-wired', 'change']]);
    expect(report.window).toEqual({ after: 0, until: firstOutboundDecision - 1, agentGroupId: 'ag-andy' });
    expect(json('what-if', '--remove', 'ag-andy:family', '--since', String(firstOutboundDecision + 1), '--agent-group', 'ag-admin').flips).toEqual([]);
    expect(cli('what-if', '--remove', 'ag-andy:family', '--since', String(firstOutboundDecision + 1000))).toMatchObject({ status: 1, stderr: expect.stringMatching(/the log ends at #\d+/) });
  });

  it('reads a change from a JSON file and prints a table for people', () => {
    const file = join(root, 'change.json');
    writeFileSync(file, JSON.stringify({ removeDestinations: [{ agentGroupId: 'ag-andy', localName: 'family' }] }));
    const result = cli('what-if', '--change', file);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('2 would flip');
    expect(result.stdout).toMatch(/ag-andy\s+2\s+0/);
  });

  it('refuses a change that cannot be applied, or cannot be read, naming the entry', () => {
    const refused = cli('what-if', '--remove', 'ag-andy:nope');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('removeDestinations[0]: RemoveDestination refused (no-such-destination)');
    const shape = cli('what-if', '--add', 'ag-andy:x');
    expect(shape.status).toBe(2);
    expect(shape.stderr).toContain('expected <agent-group>:<name>=<channel|agent>:<target id>');
    const invalid = cli('what-if', '--add', 'ag-andy:x=channel:');
    expect(invalid.status).toBe(2);
    const file = join(root, 'bad.json');
    writeFileSync(file, JSON.stringify({ revoke: [] }));
    const unknownKey = cli('what-if', '--change', file);
    expect(unknownKey.status).toBe(2);
    expect(unknownKey.stderr).toContain('revoke');
    const empty = cli('what-if');
    expect(empty.status).toBe(2);
    expect(empty.stderr).toContain('nothing to try');
  });

  // Last: it changes the log the tests above read.
  it('after an ACL change, the headline counts the flips the proposed change causes; the others are a line of their own', () => {
    expect(cli('destinations', 'remove', 'ag-andy', 'family').status).toBe(0);
    const report = json('what-if', '--add', 'ag-andy:weather=agent:ag-admin');
    expect(flipped(report)).toEqual(
      expect.arrayContaining([
        ['asked-weather', 'dropped: unknown-destination', 'routed by "weather"', 'change'],
        ['to-family-1', 'routed by "family"', 'dropped: not-permitted', 'since-recorded'],
      ]),
    );
    const shown = cli('what-if', '--add', 'ag-andy:weather=agent:ag-admin').stdout;
    expect(shown).toMatch(/: 1 would flip because of the change\n/);
    expect(shown).toMatch(/2 more already differ today without it/);
  });
});
