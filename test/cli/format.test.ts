import { stripVTControlCharacters } from 'node:util';
import { formatTable, tableLines } from '../../src/cli/format';

const RED = (text: string) => `\u001b[31m${text}\u001b[39m`;

describe('tables for people', () => {
  it('given 300,000 rows, prints them page by page without growing the stack', () => {
    const rows = (function* () {
      for (let i = 0; i < 300_000; i++) yield [i, `row ${i}`];
    })();
    let count = 0;
    let last = '';
    for (const line of tableLines(['N', 'TEXT'], rows)) {
      count++;
      last = line;
    }
    expect(count).toBe(300_001);
    expect(last).toBe('299999  row 299999');
  });

  it('given coloured cells, pads by the visible width so columns line up', () => {
    const table = formatTable(['OUTCOME', 'AGENT'], [[RED('dropped'), 'ag-1'], ['routed', 'ag-2']]).split('\n').map(stripVTControlCharacters);
    expect(table).toEqual(['OUTCOME  AGENT', 'dropped  ag-1', 'routed   ag-2']);
  });

  it('given a later page with wider cells, widens from there on and never narrows', () => {
    const rows = [['a', 'x'], ['bbbbbb', 'y']];
    expect([...tableLines(['K', 'V'], rows, 1)]).toEqual(['K  V', 'a  x', 'bbbbbb  y']);
  });
});
