import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { useTempDir } from '../support/temp';

/** Shell completion (issue 15, defect 8): the script the CLI prints, run by a real bash. */
describe('switchyard completion (built CLI)', () => {
  const tempDir = useTempDir();

  it('completes commands, subcommands and options in bash, skipping options and their values', () => {
    const script = runCli(['completion', 'bash']);
    expect(script.status).toBe(0);
    writeFileSync(join(tempDir(), 'completion.sh'), script.stdout);
    const complete = (line: string) => {
      const words = line.split(' ');
      const result = spawnSync('bash', ['-c', `source ${join(tempDir(), 'completion.sh')}; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _switchyard; echo "\${COMPREPLY[*]}"`, 'bash', ...words], { encoding: 'utf8' });
      return result.stdout.trim().split(' ');
    };
    expect(complete('switchyard aud')).toEqual(['audit']);
    expect(complete('switchyard audit --fo')).toEqual(['--format', '--follow']);
    expect(complete('switchyard --data-dir ./data sessions l')).toEqual(['list', 'logs']);
    expect(complete('switchyard sessions logs sess-1 --')).toEqual(expect.arrayContaining(['--lines', '--follow']));
    expect(runCli(['completion', 'fish'])).toMatchObject({ status: 2, stderr: expect.stringContaining('expected bash or zsh') });
  });
});
