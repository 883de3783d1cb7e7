import RE2 from 're2';
import { RE2JS } from 're2js';

/**
 * Trigger patterns, the one place they are compiled: by Google's RE2 (the native `re2`
 * binding), whose matching time grows linearly with the text. A backtracking engine lets one
 * pattern stop the host (`^(a+)+$` held the event loop for 48 s on a 33-character message);
 * RE2 cannot, and refuses instead what it cannot run that way (backreferences, lookaround).
 * The pure-JS port re2js was linear too, but built its automaton ~10x slower: `.*a.{20}x`
 * took 120-430 ms on a first 10 kB message.
 */

/**
 * Linear in the text, but times the program's size when the automaton has more states than
 * the text has characters: RE2 then builds a state per character, each costing every live
 * instruction (`.*a.{494}x` ran ~60 ms on 10 kB of random a/b; unbounded, `.*a.{999}b.{999}x`
 * ran ~190 ms). A 350-character alternation of words is ~350 instructions; counted
 * repetitions are what exceed it. The native binding does not report its program size:
 * re2js, a port of the same compiler, counts it.
 */
export const MAX_TRIGGER_INSTRUCTIONS = 500;

export type CompiledTrigger = { regex: RE2; refused?: undefined } | { regex?: undefined; refused: string };

/** A few patterns per install, judged against every inbound message: compiled once each. */
const compiled = new Map<string, CompiledTrigger>();

const reasonOf = (error: unknown): string =>
  `${error instanceof Error ? error.message.replace(/^error parsing regexp: /, '') : String(error)} (trigger patterns run on RE2: no backreferences or lookaround)`;

function compile(pattern: string): CompiledTrigger {
  let regex: RE2;
  let size: number;
  try {
    regex = new RE2(pattern, 'i');
    size = RE2JS.compile(pattern, RE2JS.CASE_INSENSITIVE).programSize();
  } catch (error) {
    return { refused: reasonOf(error) };
  }
  if (size > MAX_TRIGGER_INSTRUCTIONS) {
    return { refused: `compiles to ${size} instructions, more than ${MAX_TRIGGER_INSTRUCTIONS} (use smaller counted repetitions {n,m})` };
  }
  return { regex };
}

/** The pattern compiled case-insensitively, or why it cannot be used as a trigger. */
export function compileTrigger(pattern: string): CompiledTrigger {
  let trigger = compiled.get(pattern);
  if (!trigger) compiled.set(pattern, (trigger = compile(pattern)));
  return trigger;
}

/** Whether the text matches anywhere, or why the pattern cannot be judged (it then takes nothing). */
export function judgeTrigger(pattern: string, text: string): { matched: boolean; refused?: string } {
  const trigger = compileTrigger(pattern);
  return trigger.regex ? { matched: trigger.regex.test(text) } : { matched: false, refused: trigger.refused };
}
