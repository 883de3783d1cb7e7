import { compileTrigger, judgeTrigger } from '../../src/commands/trigger';

describe('trigger patterns', () => {
  // Its automaton has ~2^21 states: more than a message has characters, so each one builds a new state.
  it('accepts .*a.{20}x and judges it: an a, then exactly 20 characters, then an x', () => {
    expect(compileTrigger('.*a.{20}x').refused).toBeUndefined();
    const text = (gap: number) => `${'b'.repeat(5_000)}a${'b'.repeat(gap)}x${'b'.repeat(5_000)}`;
    expect(judgeTrigger('.*a.{20}x', text(20))).toEqual({ matched: true });
    expect(judgeTrigger('.*a.{20}x', text(19))).toEqual({ matched: false });
    expect(judgeTrigger('.*a.{20}x', text(21))).toEqual({ matched: false });
    expect(judgeTrigger('.*a.{20}x', `A${'b'.repeat(20)}X`)).toEqual({ matched: true });
  });
});
