import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generatedAttentionWasm, GENERATED } from '../scripts/build-wasm.js';
import { VALUE_CHUNK, writeValueRow } from '../src/cache/value-layout.js';
import { AttentionError, createAttention } from '../src/index.js';
import { widenBfloat16 } from '../src/kernels/bfloat16.js';
import { widenFloat16 } from '../src/kernels/float16.js';
import { projectInArena, writeTokenRows } from '../src/kernels/wasm/project-in-arena.js';
import { wasmArena, wasmKernelsAvailable } from '../src/kernels/wasm/wasm-arena.js';
import type { WasmArena } from '../src/kernels/wasm/wasm-arena.js';
import { mulberry32 } from './support/engine-arbitraries.js';
import { expectClose } from './support/close.js';
import { projectFloat32 } from './support/float32-project.js';
import { fma32, productsFused } from './support/fused-products.js';
import { sameBits } from './support/same-bits.js';

/** Σ a·b in float64, one term at a time: the definition, not a twin of either kernel. */
function plainDot(a: ArrayLike<number>, b: ArrayLike<number>, bOffset: number, n: number): number {
  let s = 0;
  for (let c = 0; c < n; c++) s += a[c]! * b[bOffset + c]!;
  return s;
}

const float32 = fc.float({ min: -100, max: 100, noNaN: true, noDefaultInfinity: true });

const kernelCase = fc
  .record({ headDim: fc.integer({ min: 1, max: 130 }), count: fc.integer({ min: 1, max: 70 }), skew: fc.integer({ min: 0, max: 3 }) })
  .chain(({ headDim, count, skew }) =>
    fc.record({
      headDim: fc.constant(headDim),
      count: fc.constant(count),
      // Rows start at any 4-byte boundary, as a kv head's run does inside a block.
      skew: fc.constant(skew),
      query: fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: headDim, maxLength: headDim }),
      rows: fc.array(float32, { minLength: headDim * count, maxLength: headDim * count }),
      weights: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: count, maxLength: count }),
      scale: fc.double({ min: 0.01, max: 4, noNaN: true }),
    }),
  );

/** Runs `body` with the arena's `attend` kernel reporting each call's job offset to `seen` first, and what the call returned after. */
function watchingAttend(seen: (job: number) => void, body: () => void, returned: (bad: number) => void = () => undefined): void {
  const arena = wasmArena()!;
  const attend = arena.attend;
  (arena as { attend: typeof attend }).attend = (job, i0, i1) => {
    seen(job);
    const bad = attend(job, i0, i1);
    returned(bad);
    return bad;
  };
  try {
    body();
  } finally {
    (arena as { attend: typeof attend }).attend = attend;
  }
}

describe('WebAssembly SIMD kernels', () => {
  it('are generated from attention.wat: the committed module is what the build makes now', async () => {
    expect(readFileSync(GENERATED, 'utf8')).toBe(await generatedAttentionWasm());
  });

  it('run in Node 20, and kernels: "auto" picks them for float32 engines (float32 or int8 caches) only', () => {
    expect(wasmKernelsAvailable()).toBe(true);
    expect(createAttention({ dim: 4 }).options.kernels).toBe('wasm');
    expect(createAttention({ dim: 4, kernels: 'js' }).options.kernels).toBe('js');
    expect(createAttention({ dim: 4, precision: 'float64' }).options.kernels).toBe('js');
    expect(createAttention({ dim: 4, cacheDtype: 'int8' }).options.kernels).toBe('wasm');
    expect(createAttention({ dim: 4, precision: 'float64', cacheDtype: 'int8' }).options.kernels).toBe('js');
    expect(() => createAttention({ dim: 4, kernels: 'simd' as 'auto' })).toThrow(AttentionError);
  });

  it('an engine on the WebAssembly kernels runs one attend call per step, and none on kernels: "js"', () => {
    let calls = 0;
    watchingAttend(
      () => calls++,
      () => {
        for (const [kernels, perStep] of [['auto', 1], ['js', 0]] as const) {
          const attn = createAttention({ dim: 4, heads: 2, blockSize: 2, kernels });
          for (let t = 0; t < 4; t++) attn.push([t, 1, -t, 2]);
          calls = 0;
          attn.push([1, 2, 3, 4]); // token 4 attends blocks 0, 1 and 2, for each of the 2 heads: one call
          expect(calls).toBe(perStep);
        }
      },
    );
  });

  it("runs a step's items in the order opposite to the last step's, and names the lowest overflowing head either way; the engine then runs the step in float64", () => {
    const backward: number[] = [];
    const bad: number[] = [];
    watchingAttend(
      // +68 of the job header: the direction flag.
      (job) => backward.push(wasmArena()!.views().i32[(job >>> 2) + 17]!),
      () => {
        // Seed mode, four heads of one dimension: heads 1 and 3 see q·k = 1e40, beyond float32.
        const attn = createAttention({ dim: 4, heads: 4 });
        const fresh = createAttention({ dim: 4, heads: 4, kernels: 'js' });
        const tokens = [[1, 1, 1, 1], [0.5, 1e20, 0.5, 1e20], [0.5, 1e20, 0.5, 1e20], [1, 2, 3, 4], [4, 3, 2, 1]];
        for (const x of tokens) expectClose(attn.push(x)[0]!.output, fresh.push(x)[0]!.output, 1e-6);
        expect(backward).toEqual([1, 0, 1, 0, 1]);
        expect(bad).toEqual([-1, 1, 1, -1, -1]);
      },
      (b) => bad.push(b),
    );
  });

  // The kernels multiply and add in float32 within one call (one row's dot product, one block's
  // weighted sum): Higham's bound for a sum of m products rounded to float32 is γ_m·Σ|terms| with
  // γ_m ≈ m·2⁻²⁴; one more rounding each for the scale and the float64 addition. Subnormal
  // float32 results add at most 2⁻¹⁴⁹ per operation.
  const U = 2 ** -24;
  const TINY = 2 ** -149;
  // exponentiate's weights are exactly 0 below this exponent (a weight under 2⁻⁶⁴ of the largest).
  const FLUSH = -64 * Math.LN2;

  it('scores: a float32 dot product of each row, within the float32 summation bound, for every size', () => {
    const arena = wasmArena()!;
    fc.assert(
      fc.property(kernelCase, ({ headDim, count, skew, query, rows, scale }) => {
        const rowsAt = arena.allocate(4 * (headDim * count + skew)) + 4 * skew;
        const q = arena.allocate(4 * headDim);
        const out = arena.allocate(8 * count);
        const buffer = arena.buffer;
        const stored = new Float32Array(buffer, rowsAt, headDim * count);
        stored.set(rows);
        const q32 = new Float32Array(buffer, q, headDim);
        q32.set(query);

        arena.scores(q, rowsAt, count, headDim, scale, out);
        const scores = new Float64Array(buffer, out, count);
        for (let r = 0; r < count; r++) {
          const expected = scale * plainDot(q32, stored, r * headDim, headDim);
          let magnitude = 0;
          for (let c = 0; c < headDim; c++) magnitude += Math.abs(q32[c]! * stored[r * headDim + c]!);
          const bound = scale * ((headDim + 2) * U * magnitude + 2 * headDim * TINY);
          expect(Math.abs(scores[r]! - expected)).toBeLessThanOrEqual(bound);
        }
        arena.release(rowsAt - 4 * skew, 4 * (headDim * count + skew));
        arena.release(q, 4 * headDim);
        arena.release(out, 8 * count);
      }),
      { numRuns: 200 },
    );
  });

  /** A query head and a block's key scales, float32, with a dominant channel or a zero query at times. */
  const int8Case = fc
    .record({
      // Multiples of 16 up to 512 take the four-row pass, the rest (and past 512) the row pass.
      headDim: fc.oneof(fc.constantFrom(16, 64, 128, 512, 528, 1040, 4200), fc.integer({ min: 1, max: 70 })),
      count: fc.integer({ min: 1, max: 11 }),
      magnitude: fc.constantFrom(1e-30, 1e-3, 1, 1e4, 1e30),
      seed: fc.integer(),
      shape: fc.constantFrom('random', 'dominant', 'zero', 'largest'),
    })
    .map(({ headDim, count, magnitude, seed, shape }) => {
      const random = mulberry32(seed);
      const q = Float32Array.from({ length: headDim }, () => (shape === 'zero' ? 0 : (random() - 0.5) * magnitude));
      if (shape === 'dominant') q[Math.floor(random() * headDim)] = magnitude * 1e3;
      const scales = Float32Array.from({ length: headDim }, () => random() * 0.05 + 1e-6);
      // The largest sums the kernel can meet: every key 127 and every v_c = 2^29 − 32 (hi 16,383,
      // lo 32,736) but one, 2^29; 4,200 channels of them would overflow an int32 lane 2.1 times over.
      if (shape === 'largest') {
        q.fill(Math.fround(1 - 2 ** -24));
        q[0] = 1;
        scales.fill(1);
      }
      const keys = Int8Array.from({ length: headDim * count }, () => (shape === 'largest' ? 127 : Math.round((random() - 0.5) * 254)));
      return { headDim, count, q, scales, keys, scale: random() * 2 };
    });

  /**
   * The n integers quantizeProducts wrote at `qv`: v = hi·2^15 + lo, the n high halves (and a 0
   * when n is odd, so rows pair up), then the low ones likewise.
   */
  function productIntegers(arena: NonNullable<ReturnType<typeof wasmArena>>, qv: number, n: number): number[] {
    const padded = n + (n % 2);
    const halves = new Int16Array(arena.buffer, qv, 2 * padded);
    if (padded > n) expect([halves[n], halves[padded + n]]).toEqual([0, 0]);
    return Array.from({ length: n }, (_, c) => {
      const lo = halves[padded + c]!;
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(Math.abs(halves[c]!)).toBeLessThanOrEqual(2 ** 14);
      return halves[c]! * 2 ** 15 + lo;
    });
  }

  it('quantizeProducts: q·s as integers of at most 2^29 units (unit = max|q_c·s_c| / 2^29), each within half a unit; a zero query gives zeros', () => {
    const arena = wasmArena()!;
    fc.assert(
      fc.property(int8Case, ({ headDim, q, scales }) => {
        // q and s: headDim float32s; the halves: 2·headDim int16s, and a pair of zeros for an odd headDim.
        const bytes = 4 * (headDim + 1);
        const [qAt, sAt, qv] = [arena.allocate(bytes), arena.allocate(bytes), arena.allocate(bytes)];
        new Float32Array(arena.buffer, qAt, headDim).set(q);
        new Float32Array(arena.buffer, sAt, headDim).set(scales);
        const unit = arena.quantizeProducts(qv, qAt, sAt, headDim);
        // Each product of two float32s is exact in float64.
        const products = Array.from(q, (x, c) => x * scales[c]!);
        const max = Math.max(...products.map(Math.abs));
        expect(unit).toBe(max / 2 ** 29);
        const v = productIntegers(arena, qv, headDim);
        v.forEach((vc, c) => {
          expect(Math.abs(vc)).toBeLessThanOrEqual(2 ** 29);
          // Half a unit, and the rounding of q·s·(2^29 / max) in float64 (relative 2^-52, twice).
          expect(Math.abs(vc * unit - products[c]!)).toBeLessThanOrEqual(unit * (0.5 + 2 ** -22));
        });
        if (max === 0) expect(v.every((vc) => vc === 0)).toBe(true);
        for (const at of [qAt, sAt, qv]) arena.release(at, bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('scoresInt8: scale·(unit·Σ v_c·k_c), the integer sum exact, bit for bit, for any headDim and rows; within half a unit per key of the float64 dot', () => {
    const arena = wasmArena()!;
    fc.assert(
      fc.property(int8Case, ({ headDim, count, q, scales, keys, scale }) => {
        // q and s: headDim float32s; the halves: 2·headDim int16s, and a pair of zeros for an odd headDim.
        const bytes = 4 * (headDim + 1);
        const [qAt, sAt, qv] = [arena.allocate(bytes), arena.allocate(bytes), arena.allocate(bytes)];
        const keysAt = arena.allocate(headDim * count);
        const out = arena.allocate(8 * count);
        new Float32Array(arena.buffer, qAt, headDim).set(q);
        new Float32Array(arena.buffer, sAt, headDim).set(scales);
        new Int8Array(arena.buffer, keysAt, headDim * count).set(keys);
        const unit = arena.quantizeProducts(qv, qAt, sAt, headDim);
        arena.scoresInt8(qv, keysAt, count, headDim, scale, unit, out);
        const v = productIntegers(arena, qv, headDim);
        const scores = new Float64Array(arena.buffer, out, count);
        for (let r = 0; r < count; r++) {
          // |v·k| < 2^36 and at most 1,040 terms: every partial sum is an integer below 2^53, exact.
          let exact = 0;
          let reach = 0;
          let dot = 0;
          let magnitude = 0;
          for (let c = 0; c < headDim; c++) {
            const k = keys[r * headDim + c]!;
            exact += v[c]! * k;
            reach += Math.abs(k);
            dot += q[c]! * scales[c]! * k;
            magnitude += Math.abs(q[c]! * scales[c]! * k);
          }
          expect(scores[r]).toBe(scale * (unit * exact));
          // Half a unit per key's weight, and the float64 dot's own roundings (and the kernel's two).
          expect(Math.abs(scores[r]! - scale * dot)).toBeLessThanOrEqual(scale * (unit * (0.5 + 2 ** -22) * reach + (headDim + 3) * 2 ** -52 * magnitude));
        }
        for (const at of [qAt, sAt, qv]) arena.release(at, bytes);
        arena.release(keysAt, headDim * count);
        arena.release(out, 8 * count);
      }),
      { numRuns: 300 },
    );
  });

  it('mixInt8: out += unit·Σ_r W_r·v_r with W_r the weight times the row scale in integers of at most 2^29 units, the sums exact, bit for bit; within half a unit per value of the float64 sum', () => {
    const arena = wasmArena()!;
    fc.assert(
      fc.property(
        fc.record({
          headDim: fc.oneof(fc.constantFrom(16, 64, 80), fc.integer({ min: 1, max: 40 })),
          count: fc.oneof(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 250, max: 600 })),
          seed: fc.integer(),
          shape: fc.constantFrom('random', 'peaked', 'zero', 'largest'),
        }),
        ({ headDim, count, seed, shape }) => {
          const random = mulberry32(seed);
          // Softmax weights (a peaked one spans many orders of magnitude), or none, or the largest
          // sums: every value 127, every W_r = 2^29 − 32 (lo 32,736) but one, 2^29.
          const w = Float32Array.from({ length: count }, () => (shape === 'zero' ? 0 : shape === 'peaked' ? Math.exp(-40 * random()) : random()));
          const scales = Float32Array.from({ length: count }, () => random() * 0.05 + 1e-6);
          const values = Int8Array.from({ length: count * headDim }, () => (shape === 'largest' ? 127 : Math.round((random() - 0.5) * 254)));
          if (shape === 'largest') {
            w.fill(Math.fround(1 - 2 ** -24));
            w[0] = 1;
            scales.fill(1);
          }
          const start = Float64Array.from({ length: headDim }, () => random() - 0.5);
          const [wAt, sAt, vAt, out, ws] = [arena.allocate(4 * count), arena.allocate(4 * count), arena.allocate(count * headDim), arena.allocate(8 * headDim), arena.allocate(4 * count + 4)];
          new Float32Array(arena.buffer, wAt, count).set(w);
          new Float32Array(arena.buffer, sAt, count).set(scales);
          new Int8Array(arena.buffer, vAt, count * headDim).set(values);
          new Float64Array(arena.buffer, out, headDim).set(start);
          const unit = arena.mixInt8(wAt, vAt, sAt, count, headDim, out, ws);
          const products = Array.from(w, (x, r) => x * scales[r]!);
          expect(unit).toBe(Math.max(0, ...products) / 2 ** 29);
          // W_r back from the scratch, where quantizeProducts put them.
          const W = productIntegers(arena, ws, count);
          W.forEach((Wr, r) => {
            expect(Wr).toBeGreaterThanOrEqual(0);
            expect(Wr).toBeLessThanOrEqual(2 ** 29);
            expect(Math.abs(Wr * unit - products[r]!)).toBeLessThanOrEqual(unit * (0.5 + 2 ** -22));
          });
          const got = new Float64Array(arena.buffer, out, headDim);
          const sixteens = headDim - (headDim % 16);
          for (let c = 0; c < headDim; c++) {
            // Columns in chunks of 16 add each 256 rows' exact sum in turn; the rest one exact sum.
            const stretch = c < sixteens ? 256 : count;
            let expected = start[c]!;
            let reach = 0;
            let plain = start[c]!;
            for (let r0 = 0; r0 < count; r0 += stretch) {
              let exact = 0;
              for (let r = r0; r < Math.min(count, r0 + stretch); r++) exact += W[r]! * values[r * headDim + c]!;
              expected += unit * exact;
            }
            for (let r = 0; r < count; r++) {
              reach += Math.abs(values[r * headDim + c]!);
              plain += products[r]! * values[r * headDim + c]!;
            }
            expect(got[c]).toBe(expected);
            expect(Math.abs(got[c]! - plain)).toBeLessThanOrEqual(unit * (0.5 + 2 ** -22) * reach + (count + 4) * 2 ** -52 * (Math.abs(start[c]!) + 127 * products.reduce((a, b) => a + b, 0)));
          }
          for (const [at, bytes] of [[wAt, 4 * count], [sAt, 4 * count], [vAt, count * headDim], [out, 8 * headDim], [ws, 4 * count + 4]] as const) arena.release(at, bytes);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('scores: each row has one order of float32 operations, whichever rows share its pass and wherever it falls in the call', () => {
    // The kernel takes rows four at a time, a quarter of the call's rows apart, and the rows past
    // the last multiple of four through the same pass; a row's number must not depend on which rows
    // share its pass or where it falls, or identical keys would get different weights, and a step's
    // numbers would depend on how keys fall into runs. Every row when headDim mod 4 ≠ 0 takes the
    // one-row loop's order.
    const arena = wasmArena()!;
    const f = Math.fround;
    // The relaxed-SIMD build where it fuses: each product and the sum it joins round once.
    const fusedKernels = productsFused(arena);
    const add = fusedKernels ? (sum: number, a: number, b: number) => fma32(a, b, sum) : (sum: number, a: number, b: number) => f(sum + f(a * b));
    fc.assert(
      fc.property(kernelCase, ({ headDim: d, count, skew, query, rows, scale }) => {
        const rowsAt = arena.allocate(4 * (d * count + skew)) + 4 * skew;
        const q = arena.allocate(4 * d);
        const out = arena.allocate(8 * count);
        const k = new Float32Array(arena.buffer, rowsAt, d * count);
        k.set(rows);
        const q32 = new Float32Array(arena.buffer, q, d);
        q32.set(query);
        arena.scores(q, rowsAt, count, d, scale, out);
        const scores = new Float64Array(arena.buffer, out, count);
        for (let r = 0; r < count; r++) {
          const at = r * d;
          const lanes = [0, 0, 0, 0];
          let expected: number;
          if (d % 4 === 0) {
            // lane j: channels 8i + j and 8i + 4 + j added before the accumulator (fused: into it,
            // one after the other); 4 more when d mod 8 = 4
            let c = 0;
            for (; c + 8 <= d; c += 8) {
              for (let j = 0; j < 4; j++) {
                const [q0, k0, q1, k1] = [q32[c + j]!, k[at + c + j]!, q32[c + 4 + j]!, k[at + c + 4 + j]!];
                lanes[j] = fusedKernels ? fma32(q1, k1, fma32(q0, k0, lanes[j]!)) : f(lanes[j]! + f(f(q0 * k0) + f(q1 * k1)));
              }
            }
            if (c < d) for (let j = 0; j < 4; j++) lanes[j] = add(lanes[j]!, q32[c + j]!, k[at + c + j]!);
            expected = scale * f(f(lanes[0]! + lanes[2]!) + f(lanes[1]! + lanes[3]!));
          } else {
            let c = 0;
            for (; c + 4 <= d; c += 4) for (let j = 0; j < 4; j++) lanes[j] = add(lanes[j]!, k[at + c + j]!, q32[c + j]!);
            let tail = 0;
            for (; c < d; c++) tail = f(tail + f(k[at + c]! * q32[c]!));
            expected = scale * f(tail + f(f(lanes[0]! + lanes[1]!) + f(lanes[2]! + lanes[3]!)));
          }
          expect(scores[r], `row ${r} of ${count}, headDim ${d}`).toBe(expected);
        }
        arena.release(rowsAt - 4 * skew, 4 * (d * count + skew));
        arena.release(q, 4 * d);
        arena.release(out, 8 * count);
      }),
      { numRuns: 200 },
    );
  });

  it('mix: adds a float32 weighted sum of the rows, read in column chunks from any slot of a block, to the float64 output, within the float32 summation bound', () => {
    const arena = wasmArena()!;
    const placement = fc.record({ slot: fc.integer({ min: 0, max: 9 }), spare: fc.integer({ min: 0, max: 9 }) });
    fc.assert(
      fc.property(kernelCase, placement, ({ headDim, count, skew, rows, weights }, { slot, spare }) => {
        // A kv head's values in a block of blockSize slots, the run at slots [slot, slot + count).
        const blockSize = slot + count + spare;
        const region = arena.allocate(4 * (headDim * blockSize + skew)) + 4 * skew;
        const w = arena.allocate(4 * count);
        const out = arena.allocate(8 * headDim);
        const buffer = arena.buffer;
        const block = new Float32Array(buffer, region, headDim * blockSize);
        // Slots outside the run hold NaN: a kernel reading one would spoil the sums.
        block.fill(NaN);
        const stored = Float32Array.from(rows);
        for (let r = 0; r < count; r++) writeValueRow(block, 0, blockSize, headDim, slot + r, stored, r * headDim);
        const w32 = new Float32Array(buffer, w, count);
        w32.set(weights);
        const mixed = new Float64Array(buffer, out, headDim);
        mixed.fill(0.5); // mix adds to what is there

        arena.mix(w, region, slot, count, headDim, 4 * VALUE_CHUNK * blockSize, out);
        for (let c = 0; c < headDim; c++) {
          let expected = 0.5;
          let magnitude = 0;
          for (let r = 0; r < count; r++) {
            expected += w32[r]! * stored[r * headDim + c]!;
            magnitude += Math.abs(w32[r]! * stored[r * headDim + c]!);
          }
          const bound = (count + 2) * U * magnitude + 2 * count * TINY + 1e-15;
          expect(Math.abs(mixed[c]! - expected)).toBeLessThanOrEqual(bound);
        }
        arena.release(region - 4 * skew, 4 * (headDim * blockSize + skew));
        arena.release(w, 4 * count);
        arena.release(out, 8 * headDim);
      }),
      { numRuns: 200 },
    );
  });

  // Each 16-bit format: its kernel, its widening, and bits standing in for any it cannot hold.
  const halves = [
    {
      name: 'projectBf16',
      kernel: (arena: WasmArena) => arena.projectBf16,
      widen: widenBfloat16,
      // Any bfloat16 bits but those past ±1e30 (NaN and Infinity among them): a weight at random there.
      valid: (bits: number) => Math.abs(widenBfloat16(Uint16Array.of(bits))[0]!) <= 1e30,
      stand: (random: () => number, scale: number) => new Uint32Array(Float32Array.of((random() - 0.5) * scale).buffer)[0]! >>> 16,
    },
    {
      name: 'projectF16',
      kernel: (arena: WasmArena) => arena.projectF16,
      widen: widenFloat16,
      // Any binary16 bits, subnormals and both zeros included, but Infinity and NaN: a subnormal at random there.
      valid: (bits: number) => (bits & 0x7c00) !== 0x7c00,
      stand: (random: () => number) => Math.floor(random() * 0x400) | (random() < 0.5 ? 0x8000 : 0),
    },
  ];

  for (const half of halves) {
    it(`${half.name}: bit for bit project over the 16-bit weights widened, for any shape, any number of tokens and any alignment of W, storing nothing past its rows`, () => {
      const arena = wasmArena()!;
      const fused = productsFused(arena);
      fc.assert(
        fc.property(
          fc.record({
            n: fc.integer({ min: 1, max: 11 }),
            rows: fc.integer({ min: 1, max: 13 }),
            cols: fc.integer({ min: 1, max: 70 }),
            // W's byte offset past a 16-byte boundary: an odd cols puts every other row at 2 mod 4.
            skew: fc.integer({ min: 0, max: 7 }),
            scale: fc.constantFrom(1, 1e-30, 1e30),
            seed: fc.integer(),
          }),
          ({ n, rows, cols, skew, scale, seed }) => {
            const random = mulberry32(seed);
            const x = Float64Array.from({ length: n * cols }, () => (random() - 0.5) * 10);
            const w = Uint16Array.from({ length: rows * cols }, () => Math.floor(random() * 65536));
            for (let i = 0; i < w.length; i++) if (!half.valid(w[i]!)) w[i] = half.stand(random, scale);
            const expected = new Float32Array(n * rows);
            for (let t = 0; t < n; t++) projectFloat32(expected, t * rows, half.widen(w), x, t * cols, rows, cols, fused);

            const wBytes = 2 * rows * cols + 16;
            const wAt = arena.allocate(wBytes);
            const xAt = arena.allocate(4 * n * cols);
            const outBytes = 4 * n * rows + 16;
            const outAt = arena.allocate(outBytes);
            const { f32 } = arena.views();
            new Uint16Array(f32.buffer, wAt + 2 * skew, rows * cols).set(w);
            writeTokenRows(f32, xAt >>> 2, x, n, cols);
            f32.fill(7, (outAt >>> 2) + n * rows, (outAt + outBytes) >>> 2);
            half.kernel(arena)(outAt, xAt, wAt + 2 * skew, n, rows, cols);
            expect(f32.slice(outAt >>> 2, (outAt >>> 2) + n * rows)).toEqual(expected);
            expect([...f32.subarray((outAt >>> 2) + n * rows, (outAt + outBytes) >>> 2)].every((v) => v === 7)).toBe(true);
            arena.release(wAt, wBytes);
            arena.release(xAt, 4 * n * cols);
            arena.release(outAt, outBytes);
          },
        ),
        { numRuns: 300 },
      );
    });
  }

  for (const half of halves) {
    const widen = half.name === 'projectBf16' ? 'widenBf16' : 'widenF16';
    it(`${widen}: the 16-bit weights widened exactly, for any count and any alignment, writing nothing past the count rounded up to four`, () => {
      const arena = wasmArena()!;
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 7 }), fc.integer(), (count, skew, seed) => {
          const random = mulberry32(seed);
          const w = Uint16Array.from({ length: count }, () => Math.floor(random() * 65536));
          for (let i = 0; i < w.length; i++) if (!half.valid(w[i]!)) w[i] = half.stand(random, 1);
          const room = 16 * Math.ceil(count / 4);
          const [src, dst] = [arena.allocate(2 * count + 16), arena.allocate(room + 16)];
          const { f32 } = arena.views();
          new Uint16Array(f32.buffer, src + 2 * skew, count).set(w);
          f32.fill(7, dst >>> 2, (dst + room + 16) >>> 2);
          arena[widen](dst, src + 2 * skew, count);
          expect(sameBits(f32.subarray(dst >>> 2, (dst >>> 2) + count), half.widen(w))).toBe(true);
          // The rest of the last chunk of four is zeros, and past it nothing changed.
          expect([...f32.subarray((dst >>> 2) + count, (dst + room) >>> 2)].every((v) => Object.is(v, 0))).toBe(true);
          expect([...f32.subarray((dst + room) >>> 2, (dst + room + 16) >>> 2)].every((v) => v === 7)).toBe(true);
          arena.release(src, 2 * count + 16);
          arena.release(dst, room + 16);
        }),
        { numRuns: 300 },
      );
    });
  }

  it('project, projectBf16 and projectF16 over many row blocks (a wide matrix, its rows in blocks of 128 KiB): each output in the documented order', () => {
    const arena = wasmArena()!;
    const fused = productsFused(arena);
    const random = mulberry32(3);
    // cols 2,051: blocks of 7 pairs of rows in float32 (16 KiB of weights a pair), 15 in 16 bits;
    // 45 rows: 23 pairs, the last unpaired; 9 tokens: two groups of four and one left over.
    const [n, rows, cols] = [9, 45, 2051];
    const x = Float64Array.from({ length: n * cols }, () => random() - 0.5);
    const sign = () => (random() < 0.5 ? 0x8000 : 0);
    const formats = [
      { kernel: arena.project, bits: null, widen: widenBfloat16, w: Uint16Array.from({ length: rows * cols }, () => (Math.floor(random() * 256) << 8) | 0x3c00 | sign()) },
      { kernel: arena.projectBf16, bits: 2, widen: widenBfloat16, w: Uint16Array.from({ length: rows * cols }, () => (Math.floor(random() * 256) << 8) | 0x3c00 | sign()) },
      // Every finite binary16 magnitude below 2^15, subnormals included.
      { kernel: arena.projectF16, bits: 2, widen: widenFloat16, w: Uint16Array.from({ length: rows * cols }, () => Math.floor(random() * 0x7800) | sign()) },
    ];
    for (const { kernel, bits, widen, w } of formats) {
      const widened = widen(w);
      const expected = new Float32Array(n * rows);
      for (let t = 0; t < n; t++) projectFloat32(expected, t * rows, widened, x, t * cols, rows, cols, fused);
      const wBytes = (bits ?? 4) * rows * cols;
      const [wAt, xAt, outAt] = [arena.allocate(wBytes), arena.allocate(4 * n * cols), arena.allocate(4 * n * rows)];
      const { f32 } = arena.views();
      if (bits === null) f32.set(widened, wAt >>> 2);
      else new Uint16Array(f32.buffer, wAt, rows * cols).set(w);
      writeTokenRows(f32, xAt >>> 2, x, n, cols);
      kernel(outAt, xAt, wAt, n, rows, cols);
      expect(f32.slice(outAt >>> 2, (outAt >>> 2) + n * rows)).toEqual(expected);
      arena.release(wAt, wBytes);
      arena.release(xAt, 4 * n * cols);
      arena.release(outAt, 4 * n * rows);
    }
  });

  it('project: float32 in its documented order for any shape and any number of tokens, within its error bound, storing nothing past its rows', () => {
    const arena = wasmArena()!;
    const fused = productsFused(arena);
    fc.assert(
      fc.property(
        fc.record({ n: fc.integer({ min: 1, max: 11 }), rows: fc.integer({ min: 1, max: 13 }), cols: fc.integer({ min: 1, max: 70 }), seed: fc.integer() }),
        ({ n, rows, cols, seed }) => {
          const random = mulberry32(seed);
          const x = Float64Array.from({ length: n * cols }, () => (random() - 0.5) * 10);
          const w = Float32Array.from({ length: rows * cols }, () => random() - 0.5);
          const expected = new Float32Array(n * rows);
          for (let t = 0; t < n; t++) projectFloat32(expected, t * rows, w, x, t * cols, rows, cols, fused);

          const wAt = arena.allocate(4 * rows * cols);
          const xAt = arena.allocate(4 * n * cols);
          const outBytes = 4 * n * rows + 16;
          const outAt = arena.allocate(outBytes);
          const { f32 } = arena.views();
          f32.set(w, wAt >>> 2);
          writeTokenRows(f32, xAt >>> 2, x, n, cols);
          // Sentinels after the last output: rows past the end are computed, never stored.
          f32.fill(7, (outAt >>> 2) + n * rows, (outAt + outBytes) >>> 2);
          arena.project(outAt, xAt, wAt, n, rows, cols);
          expect(f32.slice(outAt >>> 2, (outAt >>> 2) + n * rows)).toEqual(expected);
          expect([...f32.subarray((outAt >>> 2) + n * rows, (outAt + outBytes) >>> 2)].every((v) => v === 7)).toBe(true);
          arena.release(wAt, 4 * rows * cols);
          arena.release(xAt, 4 * n * cols);
          arena.release(outAt, outBytes);

          const out = new Float32Array(n * rows);
          const wAgain = arena.allocate(4 * rows * cols);
          arena.views().f32.set(w, wAgain >>> 2);
          // Two products over one layout of X, as a push's wq, wk and wv share it.
          const twice = new Float32Array(n * rows);
          expect(projectInArena(arena, x, n, cols, [{ w: wAgain, rows, out }, { w: wAgain, rows, out: twice }])).toBe(true);
          arena.release(wAgain, 4 * rows * cols);
          expect(out).toEqual(expected);
          expect(twice).toEqual(expected);

          // Against the exact sum: each term meets x's rounding, its product's, at most ⌈cols/4⌉
          // lane additions and the two that join the lanes, each a factor within 1 ± u (u = 2⁻²⁴).
          const u = 2 ** -24;
          const steps = Math.ceil(cols / 4) + 4;
          const bound = (steps * u) / (1 - steps * u);
          for (let t = 0; t < n; t++) {
            for (let r = 0; r < rows; r++) {
              const row = w.subarray(r * cols, (r + 1) * cols);
              const exact = plainDot(row, x, t * cols, cols);
              const magnitude = plainDot(row.map(Math.abs), x.map(Math.abs), t * cols, cols);
              expect(Math.abs(out[t * rows + r]! - exact)).toBeLessThanOrEqual(bound * magnitude + 1e-45);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('allFinite: true exactly when no number of a float32 or float64 row of any length is NaN or infinite', () => {
    const arena = wasmArena()!;
    const special = fc.constantFrom(Number.NaN, Infinity, -Infinity, 3e38, -0, 1e-45, 5e-324);
    fc.assert(
      fc.property(fc.array(fc.oneof({ arbitrary: fc.double({ min: -1e30, max: 1e30, noNaN: true }), weight: 30 }, { arbitrary: special, weight: 1 }), { maxLength: 70 }), fc.boolean(), (numbers, wide) => {
        const row = wide ? Float64Array.from(numbers) : Float32Array.from(numbers);
        expect(arena.allFinite(row)).toBe(row.every((v) => Number.isFinite(v)));
      }),
      { numRuns: 500 },
    );
  });

  it('allFinite: rows longer than one check region, checked region by region, still catch a NaN or an infinity anywhere', () => {
    const arena = wasmArena()!;
    fc.assert(
      fc.property(
        fc.integer({ min: 16385, max: 50000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.constantFrom(Number.NaN, Infinity, -Infinity, null),
        fc.boolean(),
        (length, where, bad, wide) => {
          const row = wide ? new Float64Array(length).fill(0.5) : new Float32Array(length).fill(0.5);
          if (bad !== null) row[Math.floor(where * length)] = bad;
          expect(arena.allFinite(row)).toBe(bad === null);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("storeRows: a token's key rows row-major and its value rows in column chunks, as the TypeScript append stores them, touching no other slot", () => {
    const arena = wasmArena()!;
    fc.assert(
      fc.property(
        fc.record({ kvHeads: fc.integer({ min: 1, max: 4 }), headDim: fc.integer({ min: 1, max: 80 }), blockSize: fc.integer({ min: 1, max: 20 }), seed: fc.integer() }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        ({ kvHeads, headDim, blockSize, seed }, where) => {
          const random = mulberry32(seed);
          const slot = Math.floor(where * blockSize);
          const n = kvHeads * headDim;
          const k = Float32Array.from({ length: n }, () => random() - 0.5);
          const v = Float32Array.from({ length: n }, () => random() - 0.5);
          const length = kvHeads * blockSize * headDim;
          const keys = new Float32Array(length).fill(7);
          const values = new Float32Array(length).fill(7);
          for (let g = 0; g < kvHeads; g++) {
            keys.set(k.subarray(g * headDim, (g + 1) * headDim), (g * blockSize + slot) * headDim);
            writeValueRow(values, g * blockSize * headDim, blockSize, headDim, slot, v, g * headDim);
          }
          const keysAt = arena.allocate(4 * length);
          const valuesAt = arena.allocate(4 * length);
          arena.views().f32.fill(7, keysAt >>> 2, (keysAt >>> 2) + length);
          arena.views().f32.fill(7, valuesAt >>> 2, (valuesAt >>> 2) + length);
          expect(arena.storeRows(k, v, keysAt, valuesAt, kvHeads, headDim, blockSize, slot)).toBe(true);
          const { f32 } = arena.views();
          expect(f32.slice(keysAt >>> 2, (keysAt >>> 2) + length)).toEqual(keys);
          expect(f32.slice(valuesAt >>> 2, (valuesAt >>> 2) + length)).toEqual(values);
          arena.release(keysAt, 4 * length);
          arena.release(valuesAt, 4 * length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("merge: each head's stretch sums times their factors, added stretch by stretch in float64, stored as float64 or rounded once to float32; says whether all it stored is finite", () => {
    const arena = wasmArena()!;
    fc.assert(
      fc.property(
        fc.record({
          heads: fc.integer({ min: 1, max: 5 }),
          stretches: fc.integer({ min: 1, max: 4 }),
          headDim: fc.integer({ min: 1, max: 19 }),
          seed: fc.integer(),
          // A sum past float32's range (finite as float64 only), or one not finite at all.
          planted: fc.option(fc.record({ at: fc.nat(), value: fc.constantFrom(1e39, -1e300, Infinity, -Infinity, NaN) })),
        }),
        ({ heads, stretches, headDim, seed, planted }) => {
          const random = mulberry32(seed);
          const width = headDim + 2;
          // Partials as the attend kernel leaves them: [maximum, sum, headDim sums] per item, head by head.
          const partials = Float64Array.from({ length: heads * stretches * width }, () => (random() - 0.5) * 2 ** Math.floor(random() * 40 - 20));
          if (planted !== null) {
            const item = planted.at % (heads * stretches);
            partials[item * width + 2 + (Math.floor(planted.at / (heads * stretches)) % headDim)] = planted.value;
          }
          const factors = Float64Array.from({ length: heads * stretches }, () => random());
          const expected = new Float64Array(heads * headDim);
          for (let h = 0; h < heads; h++) {
            for (let c = 0; c < headDim; c++) {
              let sum = factors[h * stretches]! * partials[h * stretches * width + 2 + c]!;
              for (let s = 1; s < stretches; s++) sum += factors[h * stretches + s]! * partials[(h * stretches + s) * width + 2 + c]!;
              expected[h * headDim + c] = sum;
            }
          }
          // The kernel reads headDim (+0), the partials (+28) and the stretches (+56) from the job's header.
          const bytes = 80 + 8 * partials.length + 8 * factors.length + 8 * heads * headDim;
          const job = arena.allocate(bytes);
          const partialsAt = job + 80;
          const factorsAt = partialsAt + 8 * partials.length;
          const outAt = factorsAt + 8 * factors.length;
          const { i32, f64 } = arena.views();
          i32[job >>> 2] = headDim;
          i32[(job >>> 2) + 7] = partialsAt;
          i32[(job >>> 2) + 14] = stretches;
          f64.set(partials, partialsAt >>> 3);
          f64.set(factors, factorsAt >>> 3);
          expect(arena.merge(job, heads, factorsAt, outAt, 0)).toBe(expected.every(Number.isFinite) ? 1 : 0);
          expect(arena.views().f64.slice(outAt >>> 3, (outAt >>> 3) + heads * headDim)).toEqual(expected);
          expect(arena.merge(job, heads, factorsAt, outAt, 1)).toBe(Float32Array.from(expected).every(Number.isFinite) ? 1 : 0);
          expect(arena.views().f32.slice(outAt >>> 2, (outAt >>> 2) + heads * headDim)).toEqual(Float32Array.from(expected));
          arena.release(job, bytes);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('exponentiate: e^(s − max) in float32 for any length and finite scores, with the maximum and the sum beside them', () => {
    const arena = wasmArena()!;
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 70 }), fc.boolean(), (raw, clustered) => {
        // Clustered scores sit within a few units of each other, where every weight matters.
        const scores = clustered ? raw.map((s) => s / 1e5) : raw;
        const n = scores.length;
        const p = arena.allocate(8 * n);
        const e = arena.allocate(4 * n);
        const partial = arena.allocate(16);
        new Float64Array(arena.buffer, p, n).set(scores);
        const sum = arena.exponentiate(p, n, e, partial);
        const exponentials = new Float32Array(arena.buffer, e, n);
        const [maxOut, sumOut] = new Float64Array(arena.buffer, partial, 2);
        const max = Math.max(...scores);
        expect(maxOut).toBe(max);
        let exactSum = 0;
        let storedSum = 0;
        scores.forEach((s, i) => {
          const x = s - max;
          const exact = Math.exp(x);
          exactSum += exact;
          storedSum += exponentials[i]!;
          // The narrowed exponent x = s − max carries |x|·2⁻²⁴ of error into e^x; the polynomial and
          // 2^k a few float32 ulps. Below x = −64·ln 2 the weight is exactly 0, so no weight is ever
          // subnormal (within float32's rounding of x of the threshold, either is right).
          const within = Math.abs(exponentials[i]! - exact) <= exact * (4e-7 + Math.abs(x) * 2 * U);
          if (x < FLUSH - 1e-4) expect(exponentials[i]).toBe(0);
          else if (x > FLUSH + 1e-4) expect(within).toBe(true);
          else expect(within || exponentials[i] === 0).toBe(true);
        });
        // The sum is the float64 sum of the float32 exponentials as stored.
        expect(sumOut).toBe(sum);
        expect(Math.abs(sum - storedSum)).toBeLessThanOrEqual(1e-15 * n * storedSum);
        expect(Math.abs(sum - exactSum)).toBeLessThanOrEqual(1e-6 * exactSum);
        arena.release(p, 8 * n);
        arena.release(e, 4 * n);
        arena.release(partial, 16);
      }),
      { numRuns: 300 },
    );
  });

  it('capScores: cap·tanh(s / cap) in float64 within a few ulps of Math.tanh, for any score and length; the next number untouched', () => {
    const arena = wasmArena()!;
    const score = fc.oneof(
      fc.double(),
      fc.double({ min: -1e-6, max: 1e-6 }),
      fc.double({ min: -100, max: 100 }),
      fc.constantFrom(0, -0, Infinity, -Infinity, Number.NaN, Number.MIN_VALUE, -Number.MAX_VALUE),
    );
    const cap = fc.oneof(fc.double({ min: 1e-6, max: 1e6, noNaN: true }), fc.constantFrom(0.5, 2, 30, 50));
    fc.assert(
      fc.property(fc.array(score, { maxLength: 41 }), cap, (scores, c) => {
        const n = scores.length;
        const p = arena.allocate(8 * (n + 1));
        const view = new Float64Array(arena.buffer, p, n + 1);
        view.set(scores);
        view[n] = 1234.5;
        arena.capScores(p, n, c);
        scores.forEach((s, i) => {
          // ±∞ stays: a float32 dot product past ±3.4e38, which the engine scores again in float64.
          const want = Number.isFinite(s) || Number.isNaN(s) ? c * Math.tanh(s / c) : s;
          const got = view[i]!;
          if (Number.isNaN(want)) expect(got).toBeNaN();
          else if (want === 0 || !Number.isFinite(want)) expect(Object.is(got, want)).toBe(true);
          // Subnormal scores lose their digits on the way (s times −2/cap, then cap times tanh); an
          // error under 1e-300 moves no weight.
          else expect(Math.abs(got - want)).toBeLessThanOrEqual(4e-15 * Math.abs(want) + 1e-300);
        });
        expect(view[n]).toBe(1234.5);
        arena.release(p, 8 * (n + 1));
      }),
      { numRuns: 400 },
    );
  });

  it("exponentiate: a maximum of zero is Math.max's, +0 when any score is +0, whatever the order and length", () => {
    const arena = wasmArena()!;
    fc.assert(
      fc.property(fc.array(fc.constantFrom(0, -0, -1, -2.5), { minLength: 1, maxLength: 20 }), (scores) => {
        const n = scores.length;
        const p = arena.allocate(8 * n);
        const e = arena.allocate(4 * n);
        const partial = arena.allocate(16);
        new Float64Array(arena.buffer, p, n).set(scores);
        arena.exponentiate(p, n, e, partial);
        expect(new Float64Array(arena.buffer, partial, 1)[0]).toBe(Math.max(...scores));
        arena.release(p, 8 * n);
        arena.release(e, 4 * n);
        arena.release(partial, 16);
      }),
      { numRuns: 300 },
    );
  });

  it('exponentiate: a non-finite score, −∞ too, makes the returned sum non-finite (the engine runs the step in float64)', () => {
    const arena = wasmArena()!;
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const at of [0, 1, 2, 4, 7, 8, 10]) {
        // Eleven scores: the bad one in the first eight (four vectors a pass) or past them.
        const scores = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((s, i) => (i === at ? bad : s));
        const p = arena.allocate(8 * scores.length);
        const e = arena.allocate(4 * scores.length);
        const partial = arena.allocate(16);
        new Float64Array(arena.buffer, p, scores.length).set(scores);
        const sum = arena.exponentiate(p, scores.length, e, partial);
        // −∞ too: a float32 dot product past −3.4e38, whose weight need not be 0 in float64.
        expect(Number.isFinite(sum)).toBe(false);
        arena.release(p, 8 * scores.length);
        arena.release(e, 4 * scores.length);
        arena.release(partial, 16);
      }
    }
  });

  it('an engine whose memory grows mid-stream (views re-derived after growth) matches the TypeScript kernels', () => {
    const options = { dim: 96, heads: 3, blockSize: 5, withWeights: true } as const;
    const arena = wasmArena()!;
    const simd = createAttention(options);
    const plain = createAttention({ ...options, kernels: 'js' });
    const generation = arena.generation;
    let filler = { offset: -1, bytes: 0 };
    for (let t = 0; t < 1500; t++) {
      // Halfway, another holder takes as much as the whole memory holds: it must grow, detaching
      // every view the engine made before.
      if (t === 750) filler = { offset: arena.allocate(arena.buffer.byteLength), bytes: arena.buffer.byteLength };
      const x = Array.from({ length: options.dim }, (_, c) => Math.sin(0.37 * t + 1.3 * c));
      const [a] = simd.push(x);
      const [b] = plain.push(x);
      if (t % 100 !== 99) continue;
      for (let c = 0; c < options.dim; c++) expect(Math.abs(a!.output[c]! - b!.output[c]!)).toBeLessThanOrEqual(1e-5);
      for (let h = 0; h < options.heads; h++) {
        for (let j = 0; j <= t; j++) expect(Math.abs(a!.weights![h]![j]! - b!.weights![h]![j]!)).toBeLessThanOrEqual(1e-6);
      }
    }
    expect(filler.offset).toBeGreaterThan(0);
    expect(arena.generation).toBeGreaterThan(generation);
    arena.release(filler.offset, filler.bytes);
    simd.dispose();
  });
});

describe('kernel choice across snapshots', () => {
  it("a snapshot restores on 'auto' unless the caller asks for 'js', and both continue alike", async () => {
    const { restoreAttention } = await import('../src/index.js');
    const attn = createAttention({ dim: 8, heads: 2, kernels: 'js' });
    for (let t = 0; t < 10; t++) attn.push(Array.from({ length: 8 }, (_, c) => Math.cos(t + c)));
    const bytes = attn.snapshot();
    const simd = restoreAttention(bytes);
    const plain = restoreAttention(bytes, { dim: 8, heads: 2, kernels: 'js' });
    expect([simd.options.kernels, plain.options.kernels]).toEqual(['wasm', 'js']);
    const x = [1, -2, 0.5, 3, 0, 1, 2, -1];
    const [a] = simd.push(x);
    const [b] = plain.push(x);
    for (let c = 0; c < 8; c++) expect(Math.abs(a!.output[c]! - b!.output[c]!)).toBeLessThanOrEqual(1e-5 * 3);
  });
});
