import type { Command } from 'commander';
import { CliError } from './context';

/** `switchyard <command words>` → what may follow: subcommands and long options, read from the program itself so it never drifts. */
function completions(command: Command, path: string[] = ['switchyard'], table = new Map<string, string[]>()): Map<string, string[]> {
  const words = [...command.commands.map((sub) => sub.name()), ...command.options.flatMap((option) => (option.long ? [option.long] : [])), '--help'];
  table.set(path.join(' '), words);
  for (const sub of command.commands) completions(sub, [...path, sub.name()], table);
  return table;
}

/**
 * A bash completion script (zsh takes it through bashcompinit): the words typed so far
 * that name a command, in order, pick the command (options and their values are passed
 * over); its subcommands and options complete.
 */
function bashScript(program: Command): string {
  const entries = [...completions(program)].map(([path, words]) => `  ['${path}']='${words.join(' ')}'`).join('\n');
  return `# switchyard completion for bash; zsh: autoload -U bashcompinit && bashcompinit first.
# Load it with: source <(switchyard completion bash)
declare -gA _switchyard_words=(
${entries}
)
_switchyard() {
  local path=switchyard next word
  for word in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    [[ "$word" == -* ]] && continue
    next="$path $word"
    [[ -n "\${_switchyard_words[$next]+known}" ]] && path="$next"
  done
  COMPREPLY=( $(compgen -W "\${_switchyard_words[$path]}" -- "\${COMP_WORDS[COMP_CWORD]}") )
}
complete -F _switchyard switchyard
`;
}

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: source <(switchyard completion bash)')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') throw new CliError(`no completion for ${shell}: expected bash or zsh`, 2);
      process.stdout.write(bashScript(program));
    });
}
