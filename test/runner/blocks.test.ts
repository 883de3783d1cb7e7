import { parseBlocks } from '../../docker/runner/blocks';

describe('parseBlocks', () => {
  it('splits blocks from scratchpad: untagged text and <internal> are never sent', () => {
    expect(parseBlocks('thinking… <internal>plan: greet</internal><message to="family">Hi!</message> done')).toEqual({
      blocks: [{ to: 'family', body: 'Hi!' }],
      scratchpad: ['thinking…', 'plan: greet', 'done'],
    });
  });

  it('finds several blocks, in order, to the same or other names', () => {
    expect(parseBlocks('<message to="a">1</message>\n<message to="b">2</message>\n<message to="a">3</message>').blocks).toEqual([
      { to: 'a', body: '1' },
      { to: 'b', body: '2' },
      { to: 'a', body: '3' },
    ]);
  });

  it('reads the attribute with either quote, spaces around =, and other attributes beside it', () => {
    expect(parseBlocks(`<message to='a'>1</message><message  to = "b" >2</message><message id="x" to="c">3</message><message\nto="d">4</message>`).blocks).toEqual([
      { to: 'a', body: '1' },
      { to: 'b', body: '2' },
      { to: 'c', body: '3' },
      { to: 'd', body: '4' },
    ]);
    // Not the attribute "to": a name ending in "to".
    expect(parseBlocks('<message goto="a">x</message>').blocks).toEqual([]);
  });

  it('keeps a nested block as text of the outer one', () => {
    expect(parseBlocks('<message to="a">quote: <message to="b">inner</message> end</message>').blocks).toEqual([
      { to: 'a', body: 'quote: <message to="b">inner</message> end' },
    ]);
    // The outer block never closed: nothing is sent, the inner one included.
    expect(parseBlocks('<message to="a">x <message to="b">inner</message>').blocks).toEqual([]);
  });

  it('removes <internal> sections inside a block from what is sent', () => {
    expect(parseBlocks('<message to="a">Hi <internal>(be brief)</internal>there</message>')).toEqual({
      blocks: [{ to: 'a', body: 'Hi there' }],
      scratchpad: ['(be brief)'],
    });
    expect(parseBlocks('<message to="a">Hi <internal>never closed</message>')).toEqual({ blocks: [{ to: 'a', body: 'Hi' }], scratchpad: ['never closed'] });
    // A block is not read inside an internal section.
    expect(parseBlocks('<internal><message to="a">draft</message></internal>').blocks).toEqual([]);
  });

  it('sends nothing of an unterminated block', () => {
    expect(parseBlocks('<message to="a">ok</message><message to="b">never closed')).toEqual({
      blocks: [{ to: 'a', body: 'ok' }],
      scratchpad: ['<message to="b">never closed'],
    });
    expect(parseBlocks('<message to="a"').blocks).toEqual([]);
  });

  it('keeps names it cannot judge as they are (the map decides), and sends no block without a name or a body', () => {
    expect(parseBlocks('<message to="no-such-name">x</message>').blocks).toEqual([{ to: 'no-such-name', body: 'x' }]);
    expect(parseBlocks('<message to="">x</message><message>y</message><message to="  ">z</message><message to="a"> </message>')).toEqual({
      blocks: [],
      scratchpad: ['<message to="">x</message>', '<message>y</message>', '<message to="  ">z</message>', '<message to="a"> </message>'],
    });
  });

  it('does not take <messages> or similar words for a block', () => {
    expect(parseBlocks('<messages to="a">x</messages>').blocks).toEqual([]);
    expect(parseBlocks('plain text only')).toEqual({ blocks: [], scratchpad: ['plain text only'] });
    expect(parseBlocks('')).toEqual({ blocks: [], scratchpad: [] });
  });

  // No time is asserted (speed belongs to the benchmarks): a quadratic scan of these inputs takes minutes, which the suite's own time would show.
  it('parses very long and hostile inputs', () => {
    const long = 'x'.repeat(1_000_000);
    expect(parseBlocks(`<message to="a">${long}</message>`).blocks[0]!.body).toHaveLength(1_000_000);
    expect(parseBlocks(long).scratchpad).toEqual([long]);
    // Inputs that make a naive scan (or a backtracking regex) quadratic or worse.
    expect(parseBlocks('<message to="a">'.repeat(50_000) + '</message>'.repeat(10)).blocks).toEqual([]);
    expect(parseBlocks('<message to="a">x</message>'.repeat(100_000)).blocks).toHaveLength(100_000);
    expect(parseBlocks('<internal>'.repeat(100_000)).blocks).toEqual([]);
    expect(parseBlocks(`<message ${'to= '.repeat(250_000)}>x</message>`).blocks).toEqual([]);
    expect(parseBlocks(`<message to="a">${'<internal>x'.repeat(100_000)}</message>`).blocks).toEqual([]);
    expect(parseBlocks('<message'.repeat(100_000)).blocks).toEqual([]);
  });
});
