import { parseBlocks } from '../../docker/runner/blocks';

describe('parseBlocks', () => {
  it('splits blocks from scratchpad: untagged text and <internal> are never sent', () => {
    expect(parseBlocks('thinking… <internal>plan: greet</internal><message to="family">Hi!</message> done')).toEqual({
      blocks: [{ to: 'family', body: 'Hi!' }],
      scratchpad: ['thinking…', 'plan: greet', 'done'],
    });
  });

  it('reads the attribute with either quote and spaces around =', () => {
    expect(parseBlocks(`<message to='a'>1</message><message  to = "b" >2</message><message id="x" to="c">3</message>`).blocks).toEqual([
      { to: 'a', body: '1' },
      { to: 'b', body: '2' },
      { to: 'c', body: '3' },
    ]);
  });

  it('keeps a nested block as text of the outer one', () => {
    expect(parseBlocks('<message to="a">quote: <message to="b">inner</message> end</message>').blocks).toEqual([
      { to: 'a', body: 'quote: <message to="b">inner</message> end' },
    ]);
  });

  it('sends nothing of an unterminated block', () => {
    expect(parseBlocks('<message to="a">ok</message><message to="b">never closed')).toEqual({
      blocks: [{ to: 'a', body: 'ok' }],
      scratchpad: ['<message to="b">never closed'],
    });
    expect(parseBlocks('<message to="a"').blocks).toEqual([]);
  });

  it('keeps names it cannot judge as they are (the map decides), and sends no block without a name', () => {
    expect(parseBlocks('<message to="no-such-name">x</message>').blocks).toEqual([{ to: 'no-such-name', body: 'x' }]);
    expect(parseBlocks('<message to="">x</message><message>y</message>')).toEqual({ blocks: [], scratchpad: ['<message to="">x</message>', '<message>y</message>'] });
  });

  it('does not take <messages> or similar words for a block', () => {
    expect(parseBlocks('<messages to="a">x</messages>').blocks).toEqual([]);
  });

  it('stays linear on very long and hostile inputs', () => {
    const long = 'x'.repeat(1_000_000);
    expect(parseBlocks(`<message to="a">${long}</message>`).blocks[0]!.body).toHaveLength(1_000_000);
    // Inputs that make a naive scan quadratic: they would not finish within the test's timeout.
    expect(parseBlocks('<message to="a">'.repeat(50_000) + '</message>'.repeat(10)).blocks).toEqual([]);
    expect(parseBlocks('<message to="a">x</message>'.repeat(100_000)).blocks).toHaveLength(100_000);
    expect(parseBlocks('<internal>'.repeat(100_000)).blocks).toEqual([]);
  });
});
