import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAttention } from '../src/index.js';
import type { AttentionOptions } from '../src/index.js';
import { expectClose } from './support/close.js';
import { mulberry32 } from './support/engine-arbitraries.js';

// The WebAssembly step scores rows in fours: four float runs of one length (a multiple of 4) at once when they
// follow one another (attention.wat's $score_streams): blocks of 4 or 8 rows, head sizes that are
// multiples of 4, and streams long enough for several such groups, with every option a group can
// cross — ALiBi (each run its own positions), the soft cap, and RoPE 'cache' positions with sinks
// (the sink runs take their own query, so a group must not straddle them and the window's runs).
// And four adjacent int8 key rows at a time when the head size is a multiple of 16
// (attention.wat's $scores_int8), the rest row by row.
const groupedCase = fc.record({
  heads: fc.integer({ min: 1, max: 3 }),
  headDim: fc.constantFrom<number>(4, 8, 12),
  blockSize: fc.constantFrom(4, 8),
  positions: fc.constantFrom('none', 'alibi', 'rope-cache'),
  window: fc.option(fc.integer({ min: 6, max: 40 }), { nil: undefined }),
  sinks: fc.constantFrom(0, 4, 8),
  scoreCap: fc.option(fc.constantFrom(2, 30), { nil: undefined }),
  length: fc.integer({ min: 16, max: 80 }),
  seed: fc.integer(),
});

function optionsOf(c: typeof groupedCase extends fc.Arbitrary<infer T> ? T : never, int8 = false): AttentionOptions {
  return {
    dim: c.heads * c.headDim,
    heads: c.heads,
    blockSize: c.blockSize,
    ...(int8 ? { cacheDtype: 'int8' as const } : {}),
    withWeights: true,
    ...(c.positions === 'alibi' ? { positions: 'alibi' as const } : {}),
    ...(c.positions === 'rope-cache' ? { positions: 'rope' as const, ropePositions: 'cache' as const } : {}),
    ...(c.window === undefined ? {} : { window: c.window, sinks: c.sinks }),
    ...(c.scoreCap === undefined ? {} : { scoreCap: c.scoreCap }),
  };
}

/** Pushes the same tokens into `options` on both kernel paths; every step's output and weights must agree within 1e-5 (scaled). */
function expectKernelsAgree(options: AttentionOptions, length: number, seed: number): void {
  const wasm = createAttention({ ...options, kernels: 'auto' });
  const js = createAttention({ ...options, kernels: 'js' });
  const random = mulberry32(seed);
  for (let t = 0; t < length; t++) {
    const x = Array.from({ length: options.dim }, () => random() * 4 - 2);
    const [got] = wasm.push(x);
    const [want] = js.push(x);
    expectClose(got!.output, want!.output, 1e-5, `output at ${t}`);
    expect(got!.weights!.length).toBe(want!.weights!.length);
    got!.weights!.forEach((w, h) => expectClose(w, want!.weights![h]!, 1e-5, `head ${h}'s weights at ${t}`));
  }
}

describe('four runs scored at once (WebAssembly kernels)', () => {
  it('equal the TypeScript kernels step by step, outputs and weights within 1e-5 (scaled)', () => {
    fc.assert(
      fc.property(groupedCase, (c) => expectKernelsAgree(optionsOf(c), c.length, c.seed)),
      { numRuns: 60 },
    );
  });

  it('score the sinks with their own query when a group could straddle the sinks and the window (RoPE cache positions)', () => {
    // Sinks 0–7 fill two runs of 4, and every fourth step the window starts a block, so the first
    // four runs are two sink runs and two window runs of 4 rows each.
    const options: AttentionOptions = { dim: 8, heads: 1, positions: 'rope', ropePositions: 'cache', window: 16, sinks: 8, blockSize: 4, withWeights: true };
    const wasm = createAttention({ ...options, kernels: 'auto' });
    const js = createAttention({ ...options, kernels: 'js' });
    const random = mulberry32(7);
    for (let t = 0; t < 48; t++) {
      const x = Array.from({ length: 8 }, () => random() * 6 - 3);
      const [got] = wasm.push(x);
      const [want] = js.push(x);
      expectClose(got!.output, want!.output, 1e-5, `output at ${t}`);
      expectClose(got!.weights![0]!, want!.weights![0]!, 1e-5, `weights at ${t}`);
    }
  });
});

describe('int8 key rows scored four at a time (WebAssembly kernels)', () => {
  it('equal the TypeScript kernels over the same int8 cache, outputs and weights within 1e-5 (scaled)', () => {
    // Head sizes that are multiples of 16 take the four-row path; 12 keeps a row-by-row case beside them.
    const int8Case = groupedCase.chain((c) => fc.constantFrom<number>(12, 16, 32, 48).map((headDim) => ({ ...c, headDim })));
    fc.assert(
      fc.property(int8Case, (c) => expectKernelsAgree(optionsOf(c, true), c.length, c.seed)),
      { numRuns: 60 },
    );
  });
});
