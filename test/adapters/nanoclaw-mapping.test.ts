import {
  describeVersion,
  engageOfSeedWiring,
  importedLocalName,
  mapContainerConfig,
  mapTriggerPattern,
  SEED_MIGRATIONS,
  V2_0_64_MIGRATIONS,
  wiringOfEngage,
} from '../../src/adapters/nanoclaw-mapping';
import { judgeTrigger } from '../../src/commands/trigger';

const pattern = (trigger: string) => {
  const mapped = mapTriggerPattern(trigger);
  if ('refused' in mapped) throw new Error(mapped.refused);
  return mapped;
};

describe('NanoClaw → Switchyard mapping', () => {
  it('names the version from schema_version', () => {
    expect(describeVersion([...SEED_MIGRATIONS]).label).toBe('seed');
    expect(describeVersion([...V2_0_64_MIGRATIONS])).toEqual({ label: 'v2.0.64', migrations: 13, unknown: [] });
    expect(describeVersion([...V2_0_64_MIGRATIONS.slice(0, 8)]).label).toBe('between seed and v2.0.64 (8 of its 13 migrations)');
    expect(describeVersion([...V2_0_64_MIGRATIONS, 'memories']).label).toBe('v2.0.64 with unknown migrations memories');
    expect(describeVersion(null).label).toMatch(/^unversioned/);
  });

  it('takes a seed keyword no regex engine accepts as its literal text: `?help` matches "?help" anywhere, and nothing else', () => {
    const mapped = pattern('?help');
    expect(mapped.value).toBe('\\?help');
    expect(mapped.notes).toEqual([expect.stringContaining('literal text')]);
    expect(judgeTrigger(mapped.value, 'can I get ?HELP here').matched).toBe(true);
    expect(judgeTrigger(mapped.value, 'help').matched).toBe(false);
    expect(pattern('[todo').value).toBe('\\[todo');
  });

  it('drops (?i): every Switchyard trigger is case-insensitive', () => {
    const mapped = pattern('(?i)research');
    expect(mapped).toEqual({ value: 'research', notes: [expect.stringContaining('(?i)')] });
    expect(judgeTrigger(mapped.value, 'RESEARCH this').matched).toBe(true);
  });

  it('keeps a regex RE2 runs as it is, and refuses one only a backtracking engine runs', () => {
    expect(pattern('^@andy\\b')).toEqual({ value: '^@andy\\b', notes: [] });
    expect(mapTriggerPattern('^(?!bot)@andy')).toEqual({ refused: expect.stringContaining('no backreferences or lookaround') });
  });

  it('reads a seed wiring as NanoClaw’s engage-modes upgrade does', () => {
    expect(engageOfSeedWiring('{"pattern":"^@andy","requiresTrigger":true}', 'triggered').value).toEqual({ mode: 'pattern', pattern: '^@andy', senderScope: 'all', ignoredMessagePolicy: 'drop' });
    expect(engageOfSeedWiring('{"requiresTrigger":false}', 'triggered').value).toMatchObject({ mode: 'pattern', pattern: '.' });
    expect(engageOfSeedWiring('{}', 'all').value).toMatchObject({ mode: 'pattern', pattern: '.' });
    expect(engageOfSeedWiring('{"requiresTrigger":true}', 'allowlisted').value).toEqual({ mode: 'mention', pattern: null, senderScope: 'known', ignoredMessagePolicy: 'drop' });
    expect(engageOfSeedWiring('not json', 'all')).toEqual({ value: expect.objectContaining({ pattern: '.' }), notes: [expect.stringContaining('not a JSON object')] });
  });

  it('maps engage modes to trigger rules, noting what Switchyard cannot express', () => {
    const engage = { mode: 'pattern', pattern: '.', senderScope: 'all', ignoredMessagePolicy: 'drop' };
    expect(wiringOfEngage(engage, 'Andy')).toEqual({ value: { triggerRules: { requiresTrigger: false }, responseScope: 'all' }, notes: [] });
    expect(wiringOfEngage({ ...engage, pattern: '^go' }, 'Andy')).toEqual({ value: { triggerRules: { pattern: '^go', requiresTrigger: true }, responseScope: 'triggered' }, notes: [] });
    const mention = wiringOfEngage({ ...engage, mode: 'mention', pattern: null, senderScope: 'known' }, 'Dr. Who');
    expect(mention).toEqual({
      value: { triggerRules: { pattern: '@Dr\\. Who', requiresTrigger: true }, responseScope: 'triggered' },
      notes: [expect.stringContaining("engage_mode 'mention'"), expect.stringContaining("sender_scope 'known'")],
    });
    expect(wiringOfEngage({ ...engage, mode: 'telepathy' }, 'Andy')).toEqual({ refused: expect.stringContaining('telepathy') });
  });

  it('keeps every container_config field that fits and names each one that does not', () => {
    const mapped = mapContainerConfig({
      packages: { apt: ['jq'], npm: 'left-pad' },
      mcpServers: { good: { command: 'node', args: ['x.js'] }, bad: { args: [] } },
      imageTag: 'acme/agent:1',
      additionalMounts: [{ hostPath: '/srv/data/notes' }, { hostPath: '/srv/b', containerPath: 'b', readonly: false }, { containerPath: 'x' }],
      skills: ['web'],
    });
    expect(mapped.value).toEqual({
      packages: { apt: ['jq'], npm: [] },
      mcpServers: { good: { command: 'node', args: ['x.js'], env: {} } },
      imageTag: 'acme/agent:1',
      additionalMounts: [
        { hostPath: '/srv/data/notes', containerPath: 'notes', readonly: true },
        { hostPath: '/srv/b', containerPath: 'b', readonly: false },
      ],
    });
    expect(mapped.notes).toEqual([
      expect.stringMatching(/^container_config\.packages\.npm not imported \(\(value\): /),
      expect.stringMatching(/^container_config\.mcpServers\.bad not imported \(command: /),
      expect.stringMatching(/additionalMounts\.0 .* given "notes"/),
      expect.stringMatching(/^container_config\.additionalMounts\.2 not imported \(no hostPath\)/),
      expect.stringMatching(/^container_config\.skills not imported: Switchyard has no such setting/),
    ]);
  });

  it('folds accents before normalizing a local name', () => {
    expect(importedLocalName('Équipe Ops ✨')).toBe('equipe-ops');
    expect(importedLocalName('Ops Room')).toBe('ops-room');
    expect(importedLocalName('✨')).toBe('unnamed');
  });
});
