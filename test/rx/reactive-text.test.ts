import { describe, expect, it } from 'vitest';
import { batchAttention } from '../../src/index.js';
import { EmbeddingTable, tokenize } from '../../src/rx/index.js';
import { loadTable, main, SENTENCE } from '../../examples/reactive-text.js';

describe('examples/reactive-text.ts', () => {
  it('main() gives every word of the sentence, in order, with its earlier words ranked by attention weight', async () => {
    const table = loadTable();
    const rows = await main(SENTENCE, table);
    const words = tokenize(SENTENCE);
    expect(rows.map((r) => r.word)).toEqual(words);
    expect(rows[0]!.top).toEqual([]);
    expect(rows[0]!.self).toBeCloseTo(1, 6);

    const reference = batchAttention(words.map((w) => table.lookup(w)), { dim: 100, scale: 0.1, withWeights: true, precision: 'float64' });
    rows.forEach((row, i) => {
      expect(row.top.length).toBe(Math.min(3, i));
      const weights = reference[i]!.weights![0]!;
      for (const entry of row.top) {
        expect(entry.index).toBeLessThan(i);
        expect(entry.word).toBe(words[entry.index]);
        expect(entry.weight).toBeCloseTo(weights[entry.index]!, 5);
      }
      // Heaviest first, and nothing left out is heavier than the last one shown.
      const shown = new Set(row.top.map((e) => e.index));
      const lightest = row.top.at(-1)?.weight ?? Infinity;
      for (let j = 0; j < i; j++) if (!shown.has(j)) expect(weights[j]!).toBeLessThanOrEqual(lightest + 1e-6);
      expect(row.top.map((e) => e.weight)).toEqual([...row.top.map((e) => e.weight)].sort((a, b) => b - a));
    });
  });

  it('a word the table lacks gets the zero fallback instead of stopping the stream', async () => {
    const table = EmbeddingTable.fromArrays(['hello', 'world'], [[1, 0], [0, 1]], { lowercase: true, fallback: [0, 0] });
    const rows = await main('Hello, zzyzx world!', table, 1);
    expect(rows.map((r) => r.word)).toEqual(['Hello', 'zzyzx', 'world']);
    // A zero vector scores 0 against everything, so it spreads its weight evenly over the two words so far.
    expect(rows[1]!.self).toBeCloseTo(0.5, 6);
  });
});
