import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VALUE_CHUNK, readValueRow, writeValueRow } from '../src/cache/value-layout.js';

describe('value layout: a kv head\'s values in a block, in chunks of columns', () => {
  const shape = fc.record({ blockSize: fc.integer({ min: 1, max: 70 }), headDim: fc.integer({ min: 1, max: 140 }), kvHeads: fc.integer({ min: 1, max: 3 }) });

  it('gives every (kv head, slot, column) its own element of the block, and reads back what was written', () => {
    fc.assert(
      fc.property(shape, ({ blockSize, headDim, kvHeads }) => {
        const block = new Float64Array(kvHeads * blockSize * headDim).fill(NaN);
        const row = new Float64Array(headDim);
        for (let g = 0; g < kvHeads; g++) {
          for (let slot = 0; slot < blockSize; slot++) {
            for (let c = 0; c < headDim; c++) row[c] = (g * blockSize + slot) * headDim + c;
            writeValueRow(block, g * blockSize * headDim, blockSize, headDim, slot, row, 0);
          }
        }
        // Each number written once, to a place of its own: the block holds a permutation of 0 … size − 1.
        const seen = new Uint8Array(block.length);
        for (const x of block) if (x >= 0 && x < block.length) seen[x]!++;
        expect(seen.every((n) => n === 1)).toBe(true);
        const back = new Float64Array(headDim + 2);
        let wrong = 0;
        for (let g = 0; g < kvHeads; g++) {
          for (let slot = 0; slot < blockSize; slot++) {
            readValueRow(block, g * blockSize * headDim, blockSize, headDim, slot, back, 2);
            for (let c = 0; c < headDim; c++) if (back[2 + c] !== (g * blockSize + slot) * headDim + c) wrong++;
          }
        }
        expect(wrong).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps a chunk of columns contiguous over consecutive slots: the rows a run reads per pass', () => {
    fc.assert(
      fc.property(shape, fc.nat(), ({ blockSize, headDim }, pick) => {
        const block = new Float64Array(blockSize * headDim);
        const row = new Float64Array(headDim);
        for (let slot = 0; slot < blockSize; slot++) {
          for (let c = 0; c < headDim; c++) row[c] = slot * headDim + c;
          writeValueRow(block, 0, blockSize, headDim, slot, row, 0);
        }
        const c0 = VALUE_CHUNK * (pick % Math.ceil(headDim / VALUE_CHUNK));
        const width = Math.min(VALUE_CHUNK, headDim - c0);
        const chunk = block.subarray(c0 * blockSize, (c0 + width) * blockSize);
        const expected = Array.from({ length: blockSize * width }, (_, i) => Math.floor(i / width) * headDim + c0 + (i % width));
        expect([...chunk]).toEqual(expected);
      }),
      { numRuns: 100 },
    );
  });
});
