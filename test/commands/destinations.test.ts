import { AddDestination, normalizeLocalName, RemoveDestination } from '../../src/commands/destinations';
import { AgentGroupDeleted } from '../../src/events/agent-groups';
import { DestinationAdded, DestinationRemoved } from '../../src/events/destinations';
import { given } from '../support/decider';
import { agentGroupCreated, chatRegistered } from '../support/fixtures';

const family = { agentGroupId: 'ag-1', localName: 'family', targetType: 'channel' as const, targetId: 'mg-1' };
const scene = [agentGroupCreated('ag-1'), agentGroupCreated('ag-2'), chatRegistered('mg-1'), chatRegistered('mg-2')];

describe('AddDestination', () => {
  it('grants a new name', () => {
    given(...scene).when(AddDestination, family).then(DestinationAdded.create(family));
  });

  it('normalizes the local name before granting it', () => {
    given(...scene)
      .when(AddDestination, { ...family, localName: '  Family Chat!! ' })
      .then(DestinationAdded.create({ ...family, localName: 'family-chat' }));
  });

  it('refuses a name the agent group already holds', () => {
    given(...scene, DestinationAdded.create(family))
      .when(AddDestination, { ...family, localName: 'FAMILY', targetId: 'mg-2' })
      .thenRejects('name-taken');
  });

  it('grants a name again once it was removed', () => {
    given(...scene, DestinationAdded.create(family), DestinationRemoved.create({ agentGroupId: 'ag-1', localName: 'family' }))
      .when(AddDestination, family)
      .then(DestinationAdded.create(family));
  });

  it('refuses a deleted agent group, as holder or as target', () => {
    const deleted = AgentGroupDeleted.create({ agentGroupId: 'ag-2' });
    given(...scene, deleted).when(AddDestination, { ...family, agentGroupId: 'ag-2' }).thenRejects('unknown-agent-group');
    given(...scene, deleted).when(AddDestination, { ...family, targetType: 'agent', targetId: 'ag-2' }).thenRejects('unknown-target');
  });

  it('refuses an unknown agent group or target', () => {
    given(...scene).when(AddDestination, { ...family, agentGroupId: 'ag-9' }).thenRejects('unknown-agent-group');
    given(...scene).when(AddDestination, { ...family, targetId: 'mg-9' }).thenRejects('unknown-target');
    given(...scene).when(AddDestination, { ...family, targetType: 'agent', targetId: 'mg-1' }).thenRejects('unknown-target');
    given(...scene).when(AddDestination, { ...family, targetType: 'agent', targetId: 'ag-1' }).thenRejects('self-destination');
  });

  it('keeps names local to each agent group', () => {
    given(...scene, DestinationAdded.create(family))
      .when(AddDestination, { ...family, agentGroupId: 'ag-2' })
      .then(DestinationAdded.create({ ...family, agentGroupId: 'ag-2' }));
  });
});

describe('RemoveDestination', () => {
  it('revokes a held name', () => {
    given(...scene, DestinationAdded.create(family))
      .when(RemoveDestination, { agentGroupId: 'ag-1', localName: 'Family' })
      .then(DestinationRemoved.create({ agentGroupId: 'ag-1', localName: 'family' }));
  });

  it('refuses a name that is not held', () => {
    given(...scene).when(RemoveDestination, { agentGroupId: 'ag-1', localName: 'family' }).thenRejects('no-such-destination');
  });
});

describe('normalizeLocalName', () => {
  it.each([
    ['Research Bot', 'research-bot'],
    ['--worker_1--', 'worker-1'],
    ['***', 'unnamed'],
    ['ÉCOLE', 'cole'],
  ])('%s → %s', (input, expected) => expect(normalizeLocalName(input)).toBe(expected));
});
