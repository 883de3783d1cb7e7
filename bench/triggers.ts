import { performance } from 'node:perf_hooks';
import { compileTrigger, judgeTrigger } from '../src/commands/trigger';
import { median, verdict } from './measure';

/** The issue's target: judging any trigger on a 10 kB message. */
const TARGET_MS = 10;
const MESSAGE_CHARS = 10_000;
/** Rounds of one message of each kind; the engine's caches warm across messages, as in a host. */
const ROUNDS = 20;

/** Deterministic, so two runs judge the same texts. */
function pseudoRandom(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
}

const KINDS = ['a…a!', 'chat', 'random a/b'] as const;

/** One message of each kind per round, each different: a host never judges the same text twice. */
function messages(round: number): string[] {
  const random = pseudoRandom(round + 1);
  const words = ['dinner', 'tonight', 'deploy', 'the', 'build', 'is', 'green', 'can', 'you', 'check', 'andy', 'please', 'thanks', 'ok', 'later'];
  return [
    // What froze the host: a run of one letter, then a character that makes ^(a+)+$ fail.
    `${'a'.repeat(MESSAGE_CHARS - 1 - round)}!${'a'.repeat(round)}`,
    Array.from({ length: MESSAGE_CHARS }, () => words[Math.floor(random() * words.length)]).join(' ').slice(0, MESSAGE_CHARS),
    Array.from({ length: MESSAGE_CHARS }, () => (random() < 0.5 ? 'a' : 'b')).join(''),
  ];
}

/** Realistic triggers, the one from the issue, and the costliest kind RE2 still accepts. */
const PATTERNS: Array<[string, string]> = [
  ['issue 11', '^(a+)+$'],
  ['mention', '^@andy\\b'],
  ['commands', '^/(deploy|rollback|status)\\b'],
  ['keywords', '\\b(urgent|asap|outage|incident|on-?call)\\b'],
  ['word list', `\\b(${'alpha beta gamma delta epsilon zeta theta iota kappa lambda omicron sigma upsilon omega deploy rollback status restart review merge release hotfix pager weekend friday monday'.split(' ').join('|')})\\b`],
  // Its automaton has ~2^21 states: on random a/b text RE2 builds a new one per character.
  ['worst accepted', '.*a.{20}x'],
];

export interface TriggerFigure {
  name: string;
  pattern: string;
  /** The slowest judgement of the first round, while the pattern's automaton is still being built. */
  firstMs: number;
  medianMs: number;
  /** Shown, not judged: on a shared machine it is mostly the scheduler's and the GC's. */
  maxMs: number;
  /** Both the first round and the median under the target. */
  pass: boolean;
}

export interface TriggerBench {
  messageChars: number;
  targetMs: number;
  figures: TriggerFigure[];
}

/** Milliseconds to judge each pattern, through the host's own trigger module, on 10 kB messages. */
export function runTriggerBench(): TriggerBench {
  const rounds = Array.from({ length: ROUNDS }, (_, round) => messages(round));
  // The engine's code is compiled by V8 on first use: not a figure of any pattern.
  for (const text of messages(ROUNDS)) judgeTrigger('warm-?up', text);
  const figures = PATTERNS.map(([name, pattern]): TriggerFigure => {
    const refused = compileTrigger(pattern).refused;
    if (refused !== undefined) throw new Error(`bench pattern ${pattern} is refused: ${refused}`);
    const timings = rounds.map((texts) =>
      texts.map((text) => {
        const started = performance.now();
        judgeTrigger(pattern, text);
        return performance.now() - started;
      }),
    );
    const all = timings.flat();
    const firstMs = Math.max(...timings[0]!);
    const medianMs = median(all);
    return { name, pattern, firstMs, medianMs, maxMs: Math.max(...all), pass: firstMs < TARGET_MS && medianMs < TARGET_MS };
  });
  return { messageChars: MESSAGE_CHARS, targetMs: TARGET_MS, figures };
}

export function printTriggerBench(result: TriggerBench): void {
  console.log(
    `\nTrigger judging (RE2, case-insensitive) on ${result.messageChars.toLocaleString('en')}-character messages: ${ROUNDS} rounds of ${KINDS.join(', ')}, each message new`,
  );
  for (const f of result.figures) {
    console.log(
      `  ${f.name.padEnd(15)}first ${f.firstMs.toFixed(2).padStart(7)} ms   median ${f.medianMs.toFixed(2).padStart(6)} ms   max ${f.maxMs.toFixed(2).padStart(7)} ms` +
        `   target < ${result.targetMs} ms  ${verdict(f.pass)}   ${f.pattern.length > 40 ? `${f.pattern.slice(0, 40)}…` : f.pattern}`,
    );
  }
}

if (require.main === module) printTriggerBench(runTriggerBench());
