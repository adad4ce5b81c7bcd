import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAttention } from '../src/index.js';
import type { AttentionOptions, AttentionStep } from '../src/index.js';
import { filePool } from './support/thread-pool.js';
import { mulberry32 } from './support/engine-arbitraries.js';

// The SIMD kernels run the query heads of one kv head together, a cache block at a time, and a
// pool may cut such a batch between threads. None of that may change a number: a grouped-query
// engine must give exactly what a multi-head engine gives when each kv head is repeated for its
// query heads.

const pool = filePool();

const groupedCase = fc.record({
  kvHeads: fc.integer({ min: 1, max: 3 }),
  group: fc.integer({ min: 2, max: 4 }),
  headDim: fc.constantFrom(4, 6, 8, 36),
  // Past 1,024 keys a head's keys are cut into stretches, each its own batch.
  tokens: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1025, max: 1250 })),
  positions: fc.constantFrom('none' as const, 'alibi' as const, 'rope' as const),
  blockSize: fc.constantFrom(16, 64),
  threads: fc.boolean(),
  seed: fc.integer(),
});

/** Whether two steps carry the same index, positions, and bytes of output and weights. */
function sameBits(a: AttentionStep, b: AttentionStep): boolean {
  const bytes = (x: ArrayBufferView) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  const arrays = (s: AttentionStep) => [s.output, s.positions!, ...s.weights!] as ArrayBufferView[];
  const [left, right] = [arrays(a), arrays(b)];
  return a.index === b.index && left.length === right.length && left.every((x, i) => bytes(x).equals(bytes(right[i]!)));
}

describe('grouped-query heads on the WebAssembly kernels', () => {
  it('give bit for bit the steps of a multi-head engine whose kv heads are repeated, on one thread or a pool', () => {
    fc.assert(
      fc.property(groupedCase, (c) => {
        const heads = c.kvHeads * c.group;
        const dim = heads * c.headDim;
        const kvWidth = c.kvHeads * c.headDim;
        const shared = { dim, heads, headDim: c.headDim, scale: 0.7, positions: c.positions, blockSize: c.blockSize, withWeights: true } as const;
        // pushQKV leaves the projections unused; grouped heads need them declared.
        const weights = { wq: new Float32Array(dim * dim), wk: new Float32Array(kvWidth * dim), wv: new Float32Array(kvWidth * dim) };
        const grouped = createAttention({ ...shared, kvHeads: c.kvHeads, weights, ...(c.threads ? { threads: pool() } : {}) } as AttentionOptions);
        const multi = createAttention(shared);
        const random = mulberry32(c.seed);
        const row = (n: number) => Float32Array.from({ length: n }, () => (random() - 0.5) * 4);
        const repeated = (kv: Float32Array) => {
          const out = new Float32Array(dim);
          for (let h = 0; h < heads; h++) out.set(kv.subarray(Math.floor(h / c.group) * c.headDim, (Math.floor(h / c.group) + 1) * c.headDim), h * c.headDim);
          return out;
        };
        for (let t = 0; t < c.tokens; t++) {
          const q = row(dim);
          const k = row(kvWidth);
          const v = row(kvWidth);
          const [a] = grouped.pushQKV(q, k, v);
          const [b] = multi.pushQKV(q, repeated(k), repeated(v));
          // Bytes, not toEqual: a long case has millions of weights.
          expect(sameBits(a!, b!), `token ${t}`).toBe(true);
        }
        grouped.dispose();
        multi.dispose();
      }),
      { numRuns: 30 },
    );
  }, 120_000);
});
