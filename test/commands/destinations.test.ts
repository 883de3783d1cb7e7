import { AddDestination, normalizeLocalName, RemoveDestination } from '../../src/commands/destinations';
import { DestinationAdded, DestinationRemoved } from '../../src/events/destinations';
import { given } from '../support/decider';

const family = { agentGroupId: 'ag-1', localName: 'family', targetType: 'channel' as const, targetId: 'mg-1' };

describe('AddDestination', () => {
  it('grants a new name', () => {
    given().when(AddDestination, family).then(DestinationAdded.create(family));
  });

  it('normalizes the local name before granting it', () => {
    given()
      .when(AddDestination, { ...family, localName: '  Family Chat!! ' })
      .then(DestinationAdded.create({ ...family, localName: 'family-chat' }));
  });

  it('refuses a name the agent group already holds', () => {
    given(DestinationAdded.create(family))
      .when(AddDestination, { ...family, localName: 'FAMILY', targetId: 'mg-2' })
      .thenRejects('name-taken');
  });

  it('grants a name again once it was removed', () => {
    given(DestinationAdded.create(family), DestinationRemoved.create({ agentGroupId: 'ag-1', localName: 'family' }))
      .when(AddDestination, family)
      .then(DestinationAdded.create(family));
  });

  it('keeps names local to each agent group', () => {
    given(DestinationAdded.create(family))
      .when(AddDestination, { ...family, agentGroupId: 'ag-2' })
      .then(DestinationAdded.create({ ...family, agentGroupId: 'ag-2' }));
  });
});

describe('RemoveDestination', () => {
  it('revokes a held name', () => {
    given(DestinationAdded.create(family))
      .when(RemoveDestination, { agentGroupId: 'ag-1', localName: 'Family' })
      .then(DestinationRemoved.create({ agentGroupId: 'ag-1', localName: 'family' }));
  });

  it('refuses a name that is not held', () => {
    given().when(RemoveDestination, { agentGroupId: 'ag-1', localName: 'family' }).thenRejects('no-such-destination');
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
