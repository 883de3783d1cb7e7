import { CreateAgentGroup, DeleteAgentGroup, UpdateAgentGroup } from '../../src/commands/agent-groups';
import { AgentGroupDeleted, AgentGroupUpdated } from '../../src/events/agent-groups';
import { ContainerConfig } from '../../src/events/primitives';
import { given } from '../support/decider';
import { agentGroupCreated, channelWired, chatRegistered } from '../support/fixtures';

describe('CreateAgentGroup', () => {
  it('creates the group with the given id, defaults filled in', () => {
    given()
      .when(CreateAgentGroup, { agentGroupId: 'ag-1', name: 'Andy', folder: 'andy' })
      .then(agentGroupCreated('ag-1', { name: 'Andy', folder: 'andy' }));
  });

  it('derives a prefixed id from the command when none is given', () => {
    const decision = given().when(CreateAgentGroup, { name: 'Andy', folder: 'andy', isAdmin: true });
    decision.then({
      stream: expect.stringMatching(/^agent-group-ag-[0-9a-z]{9}[0-9a-f]{12}$/),
      type: 'AgentGroupCreated',
      schemaVersion: 1,
      data: expect.objectContaining({ agentGroupId: expect.stringMatching(/^ag-/), isAdmin: true, containerConfig: ContainerConfig.parse({}) }),
    });
  });

  it('refuses a folder another group has, even a deleted one', () => {
    given(agentGroupCreated('ag-1', { folder: 'andy' })).when(CreateAgentGroup, { name: 'Other', folder: 'andy' }).thenRejects('folder-taken');
    given(agentGroupCreated('ag-1', { folder: 'andy' }), AgentGroupDeleted.create({ agentGroupId: 'ag-1' }))
      .when(CreateAgentGroup, { name: 'Other', folder: 'andy' })
      .thenRejects('folder-taken');
  });

  it('refuses an id that cannot name its sessions folder (sessions/<agent group id>/)', () => {
    for (const agentGroupId of ['../../escape', '..', '.hidden', 'a/b']) {
      given().when(CreateAgentGroup, { agentGroupId, name: 'Evil', folder: 'evil' }).thenRejects('unsafe-id');
    }
  });

  it('refuses an id that exists', () => {
    given(agentGroupCreated('ag-1')).when(CreateAgentGroup, { agentGroupId: 'ag-1', name: 'Again', folder: 'again' }).thenRejects('agent-group-exists');
  });

  it.each([
    '../x', 'a/b', '..', '.', '/etc', '.hidden', 'a\\b', 'nul\u0000byte', 'x'.repeat(65), '\uFF0E\uFF0E', '\u2025', '-flag', '', 'sp ace', 'dots.in.name',
  ])('refuses the hostile folder name %j at validation, naming the field', (folder) => {
    expect(() => given().when(CreateAgentGroup, { name: 'Evil', folder })).toThrow(/payload\.folder: expected a folder name/);
  });

  it.each(['andy', 'Research_Bot-2', 'a', 'x'.repeat(64)])('accepts the folder name %j', (folder) => {
    expect(() => given().when(CreateAgentGroup, { agentGroupId: 'ag-1', name: 'Ok', folder })).not.toThrow();
  });
});

describe('UpdateAgentGroup and DeleteAgentGroup', () => {
  it('records only the fields that change', () => {
    given(agentGroupCreated('ag-1'))
      .when(UpdateAgentGroup, { agentGroupId: 'ag-1', name: 'Andy 2' })
      .then(AgentGroupUpdated.create({ agentGroupId: 'ag-1', name: 'Andy 2' }));
  });

  it('refuses to update an unknown or deleted group', () => {
    given().when(UpdateAgentGroup, { agentGroupId: 'ag-1', name: 'x' }).thenRejects('unknown-agent-group');
    given(agentGroupCreated('ag-1'), AgentGroupDeleted.create({ agentGroupId: 'ag-1' }))
      .when(UpdateAgentGroup, { agentGroupId: 'ag-1', name: 'x' })
      .thenRejects('unknown-agent-group');
  });

  it('refuses an update that changes nothing', () => {
    expect(() => given(agentGroupCreated('ag-1')).when(UpdateAgentGroup, { agentGroupId: 'ag-1' })).toThrow(/at least one field/);
  });

  describe('the agent image', () => {
    const withImage = (imageTag?: string) => ContainerConfig.parse(imageTag === undefined ? {} : { imageTag });

    it('given a group, when the image is set, then its container config names it and keeps the rest', () => {
      const created = agentGroupCreated('ag-1');
      (created.data as { containerConfig: ContainerConfig }).containerConfig.packages.apt = ['ffmpeg'];
      given(created)
        .when(UpdateAgentGroup, { agentGroupId: 'ag-1', image: 'ghcr.io/acme/agent:1.2' })
        .then(AgentGroupUpdated.create({ agentGroupId: 'ag-1', containerConfig: { ...withImage('ghcr.io/acme/agent:1.2'), packages: { apt: ['ffmpeg'], npm: [] } } }));
    });

    it('given a group with an image, when the image is cleared (null), then the host default applies again', () => {
      given(agentGroupCreated('ag-1'), AgentGroupUpdated.create({ agentGroupId: 'ag-1', containerConfig: withImage('agent:old') }))
        .when(UpdateAgentGroup, { agentGroupId: 'ag-1', image: null })
        .then(AgentGroupUpdated.create({ agentGroupId: 'ag-1', containerConfig: withImage() }));
    });

    it.each(['agent', 'agent:latest', 'localhost:5000/team/agent:v2', 'nanoclaw-agent:latest', `agent@sha256:${'a'.repeat(64)}`, `ghcr.io/acme/agent:1.2@sha256:${'0'.repeat(64)}`])(
      'accepts the reference %j',
      (image) => {
        given(agentGroupCreated('ag-1')).when(UpdateAgentGroup, { agentGroupId: 'ag-1', image }).then(AgentGroupUpdated.create({ agentGroupId: 'ag-1', containerConfig: withImage(image) }));
      },
    );

    it.each(['Agent:latest', 'agent:', ':latest', '-agent', 'agent latest', 'agent@sha256:short', 'a//b', '/agent', 'agent:-tag', '', `agent:${'t'.repeat(129)}`])(
      'refuses the reference %j at validation, naming the field',
      (image) => {
        expect(() => given(agentGroupCreated('ag-1')).when(UpdateAgentGroup, { agentGroupId: 'ag-1', image })).toThrow(/payload\.image: expected a docker image reference/);
      },
    );

    it('refuses an image for an unknown group', () => {
      given().when(UpdateAgentGroup, { agentGroupId: 'ag-1', image: 'agent:1' }).thenRejects('unknown-agent-group');
    });
  });

  describe('the container network', () => {
    const config = (fields: { imageTag?: string; network?: string }) => ContainerConfig.parse(fields);

    it('given a group with an image, when the network is set, then its container config names both', () => {
      given(agentGroupCreated('ag-1'), AgentGroupUpdated.create({ agentGroupId: 'ag-1', containerConfig: config({ imageTag: 'agent:1' }) }))
        .when(UpdateAgentGroup, { agentGroupId: 'ag-1', network: 'bridge' })
        .then(AgentGroupUpdated.create({ agentGroupId: 'ag-1', containerConfig: config({ imageTag: 'agent:1', network: 'bridge' }) }));
    });

    it('given a group with a network, when it is cleared (null), then no network is named (none: the default)', () => {
      given(agentGroupCreated('ag-1'), AgentGroupUpdated.create({ agentGroupId: 'ag-1', containerConfig: config({ network: 'host' }) }))
        .when(UpdateAgentGroup, { agentGroupId: 'ag-1', network: null })
        .then(AgentGroupUpdated.create({ agentGroupId: 'ag-1', containerConfig: config({}) }));
    });

    it('sets the image and the network in one command', () => {
      given(agentGroupCreated('ag-1'))
        .when(UpdateAgentGroup, { agentGroupId: 'ag-1', image: 'agent:2', network: 'agents_net' })
        .then(AgentGroupUpdated.create({ agentGroupId: 'ag-1', containerConfig: config({ imageTag: 'agent:2', network: 'agents_net' }) }));
    });

    it.each(['none', 'bridge', 'host', 'agents_net', 'my-net.1', 'N3t'])('accepts the network %j', (network) => {
      given(agentGroupCreated('ag-1')).when(UpdateAgentGroup, { agentGroupId: 'ag-1', network }).then(AgentGroupUpdated.create({ agentGroupId: 'ag-1', containerConfig: config({ network }) }));
    });

    it.each(['', '-net', '.net', 'container:abc', 'my net', 'net/1', 'n\u00e9t', 'x'.repeat(129)])('refuses the network %j at validation, naming the field', (network) => {
      expect(() => given(agentGroupCreated('ag-1')).when(UpdateAgentGroup, { agentGroupId: 'ag-1', network })).toThrow(/payload\.network: expected a docker network/);
    });

    it('refuses a network for an unknown group', () => {
      given().when(UpdateAgentGroup, { agentGroupId: 'ag-1', network: 'host' }).thenRejects('unknown-agent-group');
    });
  });

  it('deletes an unwired group, refuses a wired one', () => {
    given(agentGroupCreated('ag-1')).when(DeleteAgentGroup, { agentGroupId: 'ag-1' }).then(AgentGroupDeleted.create({ agentGroupId: 'ag-1' }));
    const rejection = given(agentGroupCreated('ag-1'), chatRegistered('mg-1'), channelWired('mg-1', 'ag-1'))
      .when(DeleteAgentGroup, { agentGroupId: 'ag-1' })
      .thenRejects('still-wired');
    expect(rejection.details).toEqual({ messagingGroupIds: ['mg-1'] });
  });
});
