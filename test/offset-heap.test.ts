import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OffsetHeap } from '../src/kernels/wasm/offset-heap.js';

describe('OffsetHeap', () => {
  it('takes offsets lowest first and holds exactly what was put in and not yet taken, whatever the order of pushes and pops', () => {
    const op = fc.oneof(fc.record({ push: fc.nat({ max: 1 << 20 }) }), fc.constant({ pop: true as const }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const heap = new OffsetHeap();
        const model: number[] = [];
        for (const o of ops) {
          if ('push' in o) {
            heap.push(o.push);
            model.push(o.push);
          } else {
            model.sort((a, b) => a - b);
            expect(heap.pop()).toBe(model.shift());
          }
          expect(heap.size).toBe(model.length);
        }
        expect([...heap.offsets()].sort((a, b) => a - b)).toEqual([...model].sort((a, b) => a - b));
      }),
      { numRuns: 300 },
    );
  });

  it('is empty after taking its last offset, and answers undefined when empty', () => {
    const heap = new OffsetHeap();
    expect(heap.pop()).toBeUndefined();
    heap.push(48);
    expect(heap.pop()).toBe(48);
    expect(heap.size).toBe(0);
    expect(heap.pop()).toBeUndefined();
  });
});
