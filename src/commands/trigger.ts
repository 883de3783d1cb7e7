import { RE2JS } from 're2js';

/**
 * Trigger patterns, the one place they are compiled: by RE2 (re2js), whose matching time
 * grows linearly with the text. A backtracking engine lets one pattern stop the host
 * (`^(a+)+$` held the event loop for 48 s on a 33-character message); RE2 cannot, and
 * refuses instead what it cannot run that way (backreferences, lookaround).
 */

/**
 * Linear in the text, but times the program's size: past this, RE2's automaton outgrows its cache and
 * each character of a 10 kB message costs every instruction (`[a-z]{0,999}` three times
 * over ran 1.8 s). A 350-character alternation of words is ~350 instructions; counted
 * repetitions are what exceed it.
 */
export const MAX_TRIGGER_INSTRUCTIONS = 500;

export type CompiledTrigger = { regex: RE2JS; refused?: undefined } | { regex?: undefined; refused: string };

/** A few patterns per install, judged against every inbound message: compiled once each. */
const compiled = new Map<string, CompiledTrigger>();

function compile(pattern: string): CompiledTrigger {
  let regex: RE2JS;
  try {
    regex = RE2JS.compile(pattern, RE2JS.CASE_INSENSITIVE);
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^error parsing regexp: /, '') : String(error);
    return { refused: `${reason} (trigger patterns run on RE2: no backreferences or lookaround)` };
  }
  const size = regex.programSize();
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
