import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { batchAttentionQKV, createAttention } from '../src/index.js';
import type { AttentionOptions, AttentionStep } from '../src/index.js';
import { expectClose } from './support/close.js';

// The WebAssembly kernels add q·k in float32: past ±3.4e38 the sum is ±∞ where the float64 sum of
// the same float32 numbers (the TypeScript kernels', batchAttention's) is finite. Such a step runs
// again in the TypeScript loops. Before, +∞ was refused (NON_FINITE) where kernels: 'js' computed
// the step, and, found by a numerics audit, a cap turned ±∞ into ±cap and −∞ was a weight of 0,
// where with a small scale the float64 score was moderate: silently other weights.

/** The step of q, k, v pushed after `history` (each a [q, k, v]), on the given kernels. */
function lastStep(options: AttentionOptions, history: readonly (readonly number[][])[]): AttentionStep {
  const attn = createAttention(options);
  let step: AttentionStep | undefined;
  for (const [q, k, v] of history) step = attn.pushQKV(q!, k!, v!)[0];
  return step!;
}

describe('a float32 dot product past float32’s range on the WebAssembly kernels', () => {
  const both = (options: AttentionOptions, history: readonly (readonly number[][])[]) => {
    const wasm = lastStep(options, history);
    const js = lastStep({ ...options, kernels: 'js' }, history);
    expect(createAttention(options).options.kernels).toBe('wasm');
    return { wasm, js };
  };

  it('+∞ is the step kernels: "js" computes, not a refusal', () => {
    const { wasm, js } = both({ dim: 1, withWeights: true }, [[[3], [3], [3]], [[1e20], [1e20], [1e20]]]);
    expect(wasm).toEqual(js);
    expect(Array.from(wasm.weights![0]!)).toEqual([0, 1]);
  });

  it('−∞ under a small scale is a moderate score, not a weight of 0', () => {
    // q·k0 = −1e40 is −∞ in float32; scaled by 1e-42 it is −0.01 beside k1's 0.
    const options: AttentionOptions = { dim: 1, scale: 1e-42, weights: {}, withWeights: true };
    const history = [[[1e20], [-1e20], [1]], [[1e20], [0], [3]]];
    const { wasm, js } = both(options, history);
    expect(wasm).toEqual(js);
    const reference = batchAttentionQKV(history.map((r) => r[0]!), history.map((r) => r[1]!), history.map((r) => r[2]!), options)[1]!;
    expectClose(wasm.weights![0]!, reference.weights![0]!, 1e-6);
    expect(wasm.weights![0]![0]).toBeGreaterThan(0.49);
  });

  it('±∞ under a cap that does not saturate the float64 score is that score capped, not ±cap', () => {
    // Both keys' dot products (9e38, 6e38) pass float32's range; scaled and capped in float64
    // they stay apart (9e18 and 6e18 under a cap of 1e30), so key 0 wins outright.
    const options: AttentionOptions = { dim: 1, scale: 1e-20, scoreCap: 1e30, weights: {}, withWeights: true };
    const history = [[[0], [3e19], [1]], [[3e19], [2e19], [2]]];
    const { wasm, js } = both(options, history);
    expect(wasm).toEqual(js);
    expect(Array.from(wasm.weights![0]!)).toEqual([1, 0]);
  });

  it('in any head, on any step, equals kernels: "js" within float32 rounding, and the engine goes on as one that never overflowed', () => {
    const entry = fc.oneof(fc.double({ min: -2, max: 2, noNaN: true }), fc.constantFrom(1e20, -1e20, 3e19, -3e19));
    const row = (n: number) => fc.array(entry, { minLength: n, maxLength: n });
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 4),
        fc.constantFrom(1, 1e-20, 1e-38, 1e-40),
        fc.constantFrom(undefined, 50, 1e30),
        fc.integer({ min: 1, max: 12 }),
        fc.infiniteStream(fc.integer()),
        (heads, scale, scoreCap, steps, seeds) => {
          const width = heads * 2;
          const options: AttentionOptions = { dim: width, heads, headDim: 2, scale, ...(scoreCap === undefined ? {} : { scoreCap }), weights: {}, withWeights: true, blockSize: 4 };
          const draw = fc.sample(fc.tuple(row(width), row(width), fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: width, maxLength: width })), { numRuns: steps, seed: seeds.next().value as number });
          const wasm = createAttention(options);
          const js = createAttention({ ...options, kernels: 'js' });
          for (const [q, k, v] of draw) {
            const [a] = wasm.pushQKV(q, k, v);
            const [b] = js.pushQKV(q, k, v);
            expect(a!.output.every(Number.isFinite)).toBe(true);
            expectClose(a!.output, b!.output, 1e-5);
            a!.weights!.forEach((w, h) => expectClose(w, b!.weights![h]!, 1e-5));
          }
          // The rows cached are the rows given: a fresh engine fed them continues alike.
          const fresh = createAttention(options);
          for (const [q, k, v] of draw) fresh.pushQKV(q, k, v);
          const next = [Array(width).fill(0.5), Array(width).fill(-0.25), Array(width).fill(1)] as const;
          expect(wasm.pushQKV(...next)).toEqual(fresh.pushQKV(...next));
        },
      ),
      { numRuns: 150 },
    );
  });
});
