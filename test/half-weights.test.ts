import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { AttentionError, batchAttention, createAttention, createAttentionStack, createCrossAttention, createLinear, pushEach, restoreAttention } from '../src/index.js';
import type { AttentionOptions, AttentionStep, AttentionWeights } from '../src/index.js';
import { BF16_MAX, roundToBfloat16 } from '../src/kernels/bfloat16.js';
import { F16_MAX, f16ToF32Table, roundToFloat16 } from '../src/kernels/float16.js';
import { ArenaWeights, WIDEN_BYTES, WIDEN_FROM } from '../src/attention/arena-weights.js';
import { resolveOptions } from '../src/attention/options.js';
import { wasmArena, wasmKernelsAvailable } from '../src/kernels/wasm/wasm-arena.js';
import { attentionOptionsArbitrary, checkIncremental, referenceAttention } from '../src/testing/index.js';
import { largestHalf, roundToHalf } from '../src/testing/internal/round-to-half.js';
import { expectClose } from './support/close.js';
import { caseArbitrary, mulberry32 } from './support/engine-arbitraries.js';
import { refusal } from './support/refusal.js';
import { verificationFailure } from './testing/verification-failure.js';
import { filePool } from './support/thread-pool.js';
import { sameBits } from './support/same-bits.js';

const pool = filePool();

const bitsOf = (x: number): number => new Uint32Array(Float32Array.of(x).buffer)[0]!;
const fromBits = (b: number): number => new Float32Array(Uint32Array.of(b).buffer)[0]!;

/**
 * The bfloat16 nearest to x taken as float32 (as the engine takes its weights), ties to even, by
 * distances: the two bfloat16s around it (its bits cut to the upper half, and one step further
 * from zero) measured in float64, where both differences are exact. Past the largest finite one
 * the step away is 2¹²⁸, as IEEE 754 rounds with an unbounded exponent: Infinity when it wins,
 * so exactly halfway past the largest (its kept bit odd) rounds to Infinity.
 */
function nearestBfloat16(x: number): number {
  const f = Math.fround(x);
  const toward = bitsOf(f) & 0xffff0000;
  const away = (toward + 0x10000) >>> 0;
  const beyond = (away & 0x7fffffff) === 0x7f800000;
  const [low, high] = [fromBits(toward), beyond ? Math.sign(f) * 2 ** 128 : fromBits(away)];
  const [dLow, dHigh] = [Math.abs(f - low), Math.abs(high - f)];
  const chosen = dLow !== dHigh ? (dLow < dHigh ? low : high) : ((toward >>> 16) & 1) === 0 ? low : high;
  return chosen === high && beyond ? Math.sign(f) * Infinity : chosen;
}

/** The positive finite binary16 values, ascending (bits 0 to 0x7bff). */
const F16_VALUES = f16ToF32Table().slice(0, 0x7c00);

/**
 * The binary16 nearest to x taken as float32, ties to even, by distances: the two binary16s around
 * it (found by bisecting every positive one) measured in float64, where both differences are exact.
 * Past the largest finite one the step away is 2¹⁶, as IEEE 754 rounds with an unbounded exponent:
 * Infinity when it wins.
 */
function nearestFloat16(x: number): number {
  const f = Math.fround(x);
  const a = Math.abs(f);
  let [lo, hi] = [0, F16_VALUES.length - 1];
  if (a >= F16_VALUES[hi]!) lo = hi;
  else {
    // F16_VALUES[lo] <= a < F16_VALUES[hi]
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (F16_VALUES[mid]! <= a) lo = mid;
      else hi = mid;
    }
  }
  const low = F16_VALUES[lo]!;
  const beyond = lo === F16_VALUES.length - 1;
  const high = beyond ? 2 ** 16 : F16_VALUES[lo + 1]!;
  const [dLow, dHigh] = [a - low, high - a];
  const chosen = dLow !== dHigh ? (dLow < dHigh ? low : high) : (lo & 1) === 0 ? low : high;
  const magnitude = chosen === high && beyond ? Infinity : chosen;
  return f < 0 || Object.is(f, -0) ? -magnitude : magnitude;
}

/** What each 16-bit format's tests need: its rounding, a distance-based twin of it, and its file version. */
const FORMATS = [
  {
    dtype: 'bfloat16',
    round: roundToBfloat16,
    nearest: nearestBfloat16,
    // Halfway between two neighbouring finite bfloat16s (exact in float32), the signed upper half from the word.
    midpoint: (w: number) => (fromBits((w >>> 16) << 16) + fromBits(((w >>> 16) + 1) << 16)) / 2,
    version: '6',
    max: BF16_MAX,
    past: 3.4e38,
  },
  {
    dtype: 'float16',
    round: roundToFloat16,
    nearest: nearestFloat16,
    midpoint: (w: number) => (w & 0x8000 ? -1 : 1) * (F16_VALUES[w % 0x7bff]! + F16_VALUES[(w % 0x7bff) + 1]!) / 2,
    version: '7',
    max: F16_MAX,
    past: 65520,
  },
] as const;

/** Each matrix and bias of `weights` rounded by `nearest` as float32s: what a float32 engine given them holds. */
function roundedBy(nearest: (x: number) => number, weights: AttentionWeights): AttentionWeights {
  return Object.fromEntries(Object.entries(weights).map(([name, w]) => [name, Float32Array.from(w as ArrayLike<number>, nearest)])) as AttentionWeights;
}

function expectSameSteps(actual: readonly AttentionStep[], expected: readonly AttentionStep[]): void {
  expect(actual.map((s) => s.index)).toEqual(expected.map((s) => s.index));
  actual.forEach((step, n) => {
    expect(sameBits(step.output, expected[n]!.output)).toBe(true);
    step.weights?.forEach((w, h) => expect(sameBits(w, expected[n]!.weights![h]!)).toBe(true));
  });
}

describe('roundToBfloat16: the nearest bfloat16, ties to even, as torch rounds', () => {
  it('by hand: ties to even both ways, exact ones kept, signs and zeros, the largest finite, the first that overflows', () => {
    const a = Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -7, -(1 + 2 ** -8 + 2 ** -20), -0, 2 ** -149, BF16_MAX, -BF16_MAX, 3.4e38, 5);
    expect(roundToBfloat16(a)).toBe(8);
    expect(Array.from(a.subarray(0, 8))).toEqual([1, 1 + 2 ** -6, 1 + 2 ** -7, -(1 + 2 ** -7), -0, 0, BF16_MAX, -BF16_MAX]);
    expect(Object.is(a[4], -0)).toBe(true);
    // The overflowing number and what follows it are left as they were.
    expect(Array.from(a.subarray(8))).toEqual([Math.fround(3.4e38), 5]);
    // Halfway past the largest finite bfloat16 (0x7f7f8000) rounds to even: Infinity. Just below it does not.
    expect(roundToBfloat16(Float32Array.of(fromBits(0x7f7f8000)))).toBe(0);
    expect([nearestBfloat16(fromBits(0x7f7f8000)), nearestBfloat16(fromBits(0xff7f8000)), nearestBfloat16(fromBits(0x7f7f7fff))]).toEqual([Infinity, -Infinity, BF16_MAX]);
    const below = Float32Array.of(fromBits(0x7f7f7fff));
    expect(roundToBfloat16(below)).toBe(-1);
    expect(below[0]).toBe(BF16_MAX);
  });
});

describe('roundToFloat16: the nearest binary16, ties to even, as torch rounds', () => {
  it('by hand: ties to even both ways, subnormals kept, signs and zeros, the largest finite, the first that overflows', () => {
    const a = Float32Array.of(1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -24, 2 ** -25, 3 * 2 ** -26, -(2 ** -14 - 2 ** -24), -0, 65519.99, -F16_MAX, 65520, 5);
    expect(roundToFloat16(a)).toBe(9);
    expect(Array.from(a.subarray(0, 9))).toEqual([1, 1 + 2 ** -9, 2 ** -24, 0, 2 ** -24, -(2 ** -14 - 2 ** -24), -0, F16_MAX, -F16_MAX]);
    expect(Object.is(a[6], -0)).toBe(true);
    // The overflowing number and what follows it are left as they were.
    expect(Array.from(a.subarray(9))).toEqual([65520, 5]);
    expect([nearestFloat16(65520), nearestFloat16(-65520), nearestFloat16(65519.99)]).toEqual([Infinity, -Infinity, F16_MAX]);
  });
});

describe.each(FORMATS)('the rounding to $dtype', ({ dtype, round, nearest, midpoint, max }) => {
  it('the verification kit knows its largest number as the kernels do', () => {
    expect(largestHalf(dtype)).toBe(max);
  });

  it('any float32 bits, numbers in the format’s range, exact ties: the nearest (ties to even), measured by distance, as the verification kit’s own rounding gives; rounding again changes nothing', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 64 }), fc.integer({ min: -40, max: 20 }), (words, e) => {
        // Raw bits; numbers scaled to 2^e (binary16's subnormals and normals); halfway between two neighbours.
        const drawn = words.map((w, i) => (i % 3 === 0 ? fromBits(w) : i % 3 === 1 ? Math.fround((w / 2 ** 32 - 0.5) * 2 ** e) : midpoint(w)));
        // The verification kit rounds on its own (float64 arithmetic): the same numbers, overflows included.
        for (const x of drawn) if (Number.isFinite(x)) expect(Object.is(roundToHalf(x, dtype), nearest(x))).toBe(true);
        const finite = drawn.filter((x) => Number.isFinite(x) && Math.abs(nearest(x)) !== Infinity);
        const a = Float32Array.from(finite);
        expect(round(a)).toBe(-1);
        a.forEach((r, i) => expect(Object.is(r, nearest(finite[i]!))).toBe(true));
        const again = a.slice();
        round(again);
        expect(sameBits(again, a)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe.each(FORMATS)('weightsDtype: $dtype', ({ dtype, nearest, version, max, past }) => {
  const rounded = (weights: AttentionWeights) => roundedBy(nearest, weights);

  it('an engine is, bit for bit, a float32 engine given its weights rounded to the format, for every option combination, both kernels, one by one or in chunks; and within float32 tolerance of batch attention', () => {
    fc.assert(
      fc.property(
        caseArbitrary({ precision: 'float32', wideHeads: true }, 24).filter(({ options }) => options.weights !== undefined),
        fc.nat(),
        fc.boolean(),
        ({ options, xs }, split, threaded) => {
          const threads = threaded && options.kernels === 'auto' && wasmKernelsAvailable() ? { threads: pool() } : {};
          const half: AttentionOptions = { ...options, ...threads, weightsDtype: dtype };
          const twin: AttentionOptions = { ...options, weights: rounded(options.weights!) };
          const one = createAttention(twin);
          const expected = [...xs.flatMap((x) => one.push(x)), ...one.flush()];
          const attn = createAttention(half);
          const cut = split % (xs.length + 1);
          const actual = [...attn.pushMany(xs.slice(0, cut)), ...xs.slice(cut).flatMap((x) => attn.push(x)), ...attn.flush()];
          expectSameSteps(actual, expected);
          // The weights it reports are the rounded ones, whichever memory holds them.
          for (const [name, w] of Object.entries(twin.weights!)) expect(sameBits(attn.options.weights![name as keyof AttentionWeights]!, w as Float32Array)).toBe(true);
          const reference = batchAttention(xs, half);
          actual.forEach((step, n) => expectClose(step.output, reference[n]!.output, 1e-5, `output of token ${step.index}`));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('beams through pushEach, forks and a cross-attention: the rounded float32 engine’s bits', () => {
    const random = mulberry32(7);
    const matrix = (rows: number, cols: number) => Array.from({ length: rows * cols }, () => random() - 0.5);
    const dim = 24;
    const weights = { wq: matrix(24, dim), wk: matrix(8, dim), wv: matrix(8, dim), wo: matrix(dim, 24), bq: matrix(1, 24) };
    const options = { dim, heads: 6, kvHeads: 2, weights };
    const half = createAttention({ ...options, weightsDtype: dtype });
    const twin = createAttention({ ...options, weights: rounded(weights) });
    const prompt = Array.from({ length: 5 }, () => matrix(1, dim));
    expectSameSteps(half.pushMany(prompt), twin.pushMany(prompt));
    const beams = [half.fork(), half.fork(), half.fork()];
    const twins = [twin.fork(), twin.fork(), twin.fork()];
    const next = beams.map(() => matrix(1, dim));
    pushEach(beams, next).forEach((steps, b) => expectSameSteps(steps, twins[b]!.push(next[b]!)));

    const memory = Array.from({ length: 7 }, () => matrix(1, dim));
    const cross = createCrossAttention({ ...options, weightsDtype: dtype });
    const crossTwin = createCrossAttention({ ...options, weights: { ...weights, ...rounded(weights) } });
    cross.setMemory(memory);
    crossTwin.setMemory(memory);
    const queries = Array.from({ length: 3 }, () => matrix(1, dim));
    expect(sameBits(cross.attendMany(queries).flatMap((s) => Array.from(s.output)), crossTwin.attendMany(queries).flatMap((s) => Array.from(s.output)))).toBe(true);
  });

  it('holds the matrices in the kernels’ memory in 2 bytes a weight, half the float32 copy, and reads them back exactly', () => {
    const arena = wasmArena();
    if (arena === null) return;
    const weights = { wq: new Array(12 * 20).fill(0.5), wk: new Array(12 * 20).fill(0.25), wv: new Array(12 * 20).fill(1), wo: new Array(20 * 12).fill(2) };
    const options = { dim: 20, heads: 3, headDim: 4, weights };
    const single = ArenaWeights.copy(arena, resolveOptions(options))!;
    const half = ArenaWeights.copy(arena, resolveOptions({ ...options, weightsDtype: dtype }))!;
    expect(single.bytes).toBe(4 * 4 * 240);
    expect(half.bytes).toBe(2 * 4 * 240);
    expect(Array.from(half.copyOut('wv'))).toEqual(weights.wv);
    expect(Array.from(half.view('wo', 230, 235))).toEqual([2, 2, 2, 2, 2]);
    single.release();
    half.release();
  });

  it(`a stack, and a snapshot: written as version ${version} with the option, restored to the same bits; saved without weights, restored from the unrounded ones`, () => {
    const random = mulberry32(11);
    const matrix = (rows: number, cols: number) => Array.from({ length: rows * cols }, () => random() - 0.5);
    const dim = 16;
    const options: AttentionOptions = { dim, heads: 2, weights: { wq: matrix(dim, dim), wk: matrix(dim, dim), wv: matrix(dim, dim), wo: matrix(dim, dim) }, weightsDtype: dtype };
    const attn = createAttention(options);
    const xs = Array.from({ length: 6 }, () => matrix(1, dim));
    attn.pushMany(xs.slice(0, 4));
    const file = attn.snapshot();
    const header = new TextDecoder().decode(file.subarray(8, 8 + Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true))));
    expect(JSON.parse(header).__metadata__.version).toBe(version);
    expect(JSON.parse(JSON.parse(header).__metadata__.options).weightsDtype).toBe(dtype);
    const restored = restoreAttention(file);
    expect(restored.options.weightsDtype).toBe(dtype);
    const lean = restoreAttention(attn.snapshot({ weights: false }), options);
    const expected = attn.pushMany(xs.slice(4));
    expectSameSteps(restored.pushMany(xs.slice(4)), expected);
    expectSameSteps(lean.pushMany(xs.slice(4)), expected);
    // The option is part of the engine: restoring with float32 weights is refused, naming it.
    const e = refusal(() => restoreAttention(file, { ...options, weightsDtype: 'float32' }));
    expect([e.code, e.details.field]).toEqual(['INVALID_OPTION', 'weightsDtype']);
    // A float32 engine's files keep their version.
    const plain = createAttention({ ...options, weightsDtype: 'float32' }).snapshot();
    expect(new TextDecoder().decode(plain.subarray(0, 400))).not.toContain(`"version":"${version}"`);

    const stack = createAttentionStack({ layers: 2, ...options });
    stack.layer(0).pushMany(xs);
    expect(createAttentionStack({ layers: [options, { ...options, weightsDtype: undefined }] }).layer(1).options.weightsDtype).toBe('float32');
    expect(stack.layer(1).options.weightsDtype).toBe(dtype);
  });

  it('createLinear: bit for bit a float32 layer given W and b rounded, on both kernels and split across a pool; row(i) the rounded row', () => {
    fc.assert(
      fc.property(
        fc.record({ rows: fc.integer({ min: 1, max: 40 }), cols: fc.integer({ min: 1, max: 40 }), n: fc.integer({ min: 0, max: 9 }), kernels: fc.constantFrom<'auto' | 'js'>('auto', 'js'), threaded: fc.boolean(), seed: fc.integer() }),
        ({ rows, cols, n, kernels, threaded, seed }) => {
          const random = mulberry32(seed);
          const weight = Float32Array.from({ length: rows * cols }, () => (random() - 0.5) * 3);
          const bias = Float32Array.from({ length: rows }, () => random() - 0.5);
          const threads = threaded && kernels === 'auto' && wasmKernelsAvailable() ? { threads: pool() } : {};
          const half = createLinear({ rows, cols, weight, bias, kernels, weightsDtype: dtype, ...threads });
          const twin = createLinear({ rows, cols, weight: weight.map(nearest), bias: bias.map(nearest), kernels });
          expect([half.weightsDtype, twin.weightsDtype]).toEqual([dtype, 'float32']);
          const xs = Array.from({ length: n }, () => Array.from({ length: cols }, () => random() * 4 - 2));
          expect(sameBits(half.applyMany(xs), twin.applyMany(xs))).toBe(true);
          const r = Math.floor(random() * rows);
          expect(sameBits(half.row(r), weight.subarray(r * cols, (r + 1) * cols).map(nearest))).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('large products split across a pool give one thread’s bits (a token’s rows, a prompt’s groups of four)', () => {
    const [rows, cols] = [300, 261];
    const weight = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(0.37 * i));
    const alone = createLinear({ rows, cols, weight, weightsDtype: dtype });
    const split = createLinear({ rows, cols, weight, weightsDtype: dtype, threads: pool() });
    for (const n of [1, 2, 9]) {
      const xs = Array.from({ length: n }, (_, t) => Float32Array.from({ length: cols }, (_, c) => Math.cos(t + 0.1 * c)));
      expect(sameBits(split.applyMany(xs), alone.applyMany(xs))).toBe(true);
    }
  });

  it('a prompt of enough tokens widens the rows a block at a time and runs the float32 kernel: past one block (rows of 512 KiB in float32), bit for bit the float32 twin, one thread or a pool; and one token fewer', () => {
    const random = mulberry32(5);
    // 1,100 × 130: 1,008 rows a block, then 92; the fewest tokens that widen (whole groups of four),
    // five more (one left over), and one fewer (the 16-bit kernel).
    const [rows, cols] = [1100, 130];
    expect(4 * rows * cols).toBeGreaterThan(WIDEN_BYTES);
    const weight = Float32Array.from({ length: rows * cols }, () => (random() - 0.5) * 2);
    const bias = Float32Array.from({ length: rows }, () => random() - 0.5);
    const twin = createLinear({ rows, cols, weight: weight.map(nearest), bias: bias.map(nearest) });
    for (const threads of [{}, { threads: pool() }]) {
      const half = createLinear({ rows, cols, weight, bias, weightsDtype: dtype, ...threads });
      for (const n of [WIDEN_FROM[dtype], WIDEN_FROM[dtype] + 5, WIDEN_FROM[dtype] - 1]) {
        const xs = Array.from({ length: n }, () => Array.from({ length: cols }, () => random() * 4 - 2));
        expect(sameBits(half.applyMany(xs), twin.applyMany(xs))).toBe(true);
      }
    }
    // An engine at dim 512: each matrix 1 MB in float32, two blocks.
    const dim = 512;
    const matrix = () => Array.from({ length: dim * dim }, () => (random() - 0.5) / 16);
    const weights = { wq: matrix(), wk: matrix(), wv: matrix(), wo: matrix() };
    const engine = createAttention({ dim, heads: 8, weights, weightsDtype: dtype, threads: pool() });
    const rounded32 = createAttention({ dim, heads: 8, weights: rounded(weights) });
    const prompt = Array.from({ length: WIDEN_FROM[dtype] + 1 }, () => Array.from({ length: dim }, () => random() - 0.5));
    expectSameSteps(engine.pushMany(prompt), rounded32.pushMany(prompt));
  });

  it('widens from WIDEN_FROM tokens, not below, on one thread and a pool (the bits alone cannot tell the two ways apart)', () => {
    const own = wasmArena();
    if (own === null) return;
    const [rows, cols] = [300, 70];
    const weight = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i) / 4);
    const inputs = (n: number) => Array.from({ length: n }, (_, t) => Array.from({ length: cols }, (_, c) => Math.cos(t + c)));
    // A pool's engines and layers live in its own arena.
    for (const [arena, threads] of [[own, {}], [pool().arena, { threads: pool() }]] as const) {
      const widening = vi.spyOn(arena, dtype === 'bfloat16' ? 'widenBf16' : 'widenF16');
      try {
        const layer = createLinear({ rows, cols, weight, weightsDtype: dtype, ...threads });
        layer.applyMany(inputs(WIDEN_FROM[dtype] - 1));
        expect(widening).not.toHaveBeenCalled();
        layer.applyMany(inputs(WIDEN_FROM[dtype]));
        expect(widening).toHaveBeenCalled();
        layer.dispose();
      } finally {
        widening.mockRestore();
      }
    }
  });

  it('the verification kit’s reference takes the weights as the options store them: 16-bit options are the reference over the rounded weights', () => {
    fc.assert(
      fc.property(caseArbitrary({ precision: 'float32', longStream: false }, 8, 2).filter(({ options }) => options.weights !== undefined), ({ options, xs }) => {
        const half = { ...options, weightsDtype: dtype };
        const expected = referenceAttention(xs, { ...options, weights: rounded(options.weights!) });
        const reference = referenceAttention(xs, half);
        reference.forEach((step, n) => expect(sameBits(step.output, expected[n]!.output)).toBe(true));
        const attn = createAttention(half);
        [...attn.pushMany(xs), ...attn.flush()].forEach((step, n) => expectClose(step.output, reference[n]!.output, 1e-5, `output of token ${step.index}`));
      }),
      { numRuns: 60 },
    );
  });

  it('the kit’s options arbitrary, asked for 16-bit weights, catches an engine that ignores them', () => {
    const ignores = (options: AttentionOptions) => {
      const { weightsDtype, ...rest } = options;
      return createAttention(weightsDtype === dtype ? rest : options);
    };
    const { mismatch, counterexample } = verificationFailure(() =>
      checkIncremental(ignores, { numRuns: 100, optionsArbitrary: attentionOptionsArbitrary({ precision: 'float32', halfWeights: true }) }),
    );
    expect(counterexample.options.weightsDtype).toBe(dtype);
    expect(['output', 'weights']).toContain(mismatch.kind);
  });

  it('refuses what it cannot be, naming the field: float64 weights in 16 bits, seed mode, an unknown dtype, a weight past the format’s range', () => {
    const w = [1, 0, 0, 1];
    const cases: [() => unknown, string, string][] = [
      [() => createAttention({ dim: 2, weights: { wq: w, wk: w, wv: w }, precision: 'float64', weightsDtype: dtype }), 'INVALID_OPTION', 'weightsDtype'],
      [() => createAttention({ dim: 2, weights: { wq: w, wk: w, wv: w }, weightsDtype: 'float64' }), 'INVALID_OPTION', 'weightsDtype'],
      [() => createAttention({ dim: 2, weightsDtype: dtype }), 'INVALID_OPTION', 'weightsDtype'],
      [() => createAttention({ dim: 2, weights: { wq: w, wk: w, wv: w }, weightsDtype: 'half' as never }), 'INVALID_OPTION', 'weightsDtype'],
      [() => createAttention({ dim: 2, weights: { wq: w, wk: [1, 0, 0, past], wv: w }, weightsDtype: dtype }), 'NON_FINITE', 'weights.wk'],
      [() => createAttention({ dim: 2, weights: { wq: w, wk: w, wv: w, bv: [0, -past] }, weightsDtype: dtype }), 'NON_FINITE', 'weights.bv'],
      [() => createLinear({ rows: 2, cols: 2, weight: w, weightsDtype: 'float64' as never }), 'INVALID_OPTION', 'weightsDtype'],
      [() => createLinear({ rows: 2, cols: 2, weight: [1, past, 0, 0], weightsDtype: dtype }), 'NON_FINITE', 'weight'],
    ];
    for (const [make, code, field] of cases) {
      const e = refusal(make);
      expect(e).toBeInstanceOf(AttentionError);
      expect([e.code, e.details.field]).toEqual([code, field]);
    }
    const e = refusal(() => createAttention({ dim: 2, weights: { wq: w, wk: [1, 0, 0, past], wv: w }, weightsDtype: dtype }));
    expect(e.message).toContain('element 3 (row 1, column 1)');
    expect(e.message).toContain(`weightsDtype '${dtype}' holds magnitudes up to ${max}`);
    expect(e.details.element).toBe(3);
  });
});

