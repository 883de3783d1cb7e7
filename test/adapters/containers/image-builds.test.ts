import { join } from 'node:path';
import Dockerode from 'dockerode';
import { buildGroupImage } from '../../../src/adapters/containers/group-image';
import { ImageBuilds } from '../../../src/adapters/containers/image-builds';
import { CreateAgentGroup } from '../../../src/commands/agent-groups';
import { StartImageBuild } from '../../../src/commands/images';
import { openDataDir } from '../../../src/core';
import { useTempDir } from '../../support/temp';

describe('image builds at start-up', () => {
  const tempDir = useTempDir();

  it('fails a build the last host left open and builds it again for the same trigger; never leaves it building', async () => {
    const core = openDataDir(join(tempDir(), 'data'));
    try {
      core.bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
      core.bus.dispatch(StartImageBuild.envelope('build', { agentGroupId: 'ag-andy', trigger: 'operator:alice' }));
      const [open] = core.views.images.building();
      // An engine that does not answer: the rebuild runs and fails with the client's own message.
      const docker = new Dockerode({ socketPath: join(tempDir(), 'no-engine.sock') });
      const builds = new ImageBuilds(core, (packages) => buildGroupImage(docker, { baseImage: 'switchyard-agent:latest', packages, cacheDir: join(tempDir(), 'cache') }));
      builds.recover();
      await builds.settled();

      expect(core.views.images.building()).toEqual([]);
      expect(core.views.images.get(open!.build_id)).toEqual(expect.objectContaining({ status: 'failed', reason: expect.stringContaining('host stopped during the build') }));
      const types = [...core.store.readAll()].map((e) => e.type).filter((type) => type.startsWith('ImageBuild'));
      expect(types).toEqual(['ImageBuildStarted', 'ImageBuildFailed', 'ImageBuildStarted', 'ImageBuildFailed']);
      const [, , restarted, failed] = [...core.store.readAll()].filter((e) => e.type.startsWith('ImageBuild'));
      expect(restarted!.data).toEqual(expect.objectContaining({ trigger: 'operator:alice' }));
      expect(failed!.data).toEqual(expect.objectContaining({ reason: expect.stringMatching(/no-engine\.sock|ENOENT/) }));
    } finally {
      core.close();
    }
  });
});
