import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { alibiSlopes, batchAttention, createAttention, restoreAttention } from '../src/index.js';
import type { AttentionOptions, AttentionWeights } from '../src/index.js';
import { ropeInverseFrequencies, ropeRotate } from '../src/kernels/index.js';
import { RopeAngles, ropeRotateBy } from '../src/kernels/rope.js';
import { expectClose, scaledError } from './support/close.js';
import { mulberry32 } from './support/engine-arbitraries.js';

describe('RoPE, rotate-half convention', () => {
  it('matches a rotation computed by hand for headDim 4 at position 3', () => {
    // half = 2, inv_freq = [1, 10000^(-1/2)] = [1, 0.01]; θ = [3, 0.03].
    // Pairs are (u0, u2) and (u1, u3): u0' = u0 cos θ0 − u2 sin θ0, u2' = u2 cos θ0 + u0 sin θ0.
    const u = new Float64Array([1, 2, 3, 4]);
    ropeRotate(u, 0, 3, ropeInverseFrequencies(4, 10000));
    const c0 = Math.cos(3);
    const s0 = Math.sin(3);
    const c1 = Math.cos(0.03);
    const s1 = Math.sin(0.03);
    expectClose(u, [1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1], 1e-15);
  });

  it('position 0 is the identity and rotations preserve length', () => {
    const invFreq = ropeInverseFrequencies(6, 500000);
    const u = new Float64Array([0.3, -1, 2, 5, -0.5, 1e-3]);
    const at0 = Float64Array.from(u);
    ropeRotate(at0, 0, 0, invFreq);
    expect(Array.from(at0)).toEqual(Array.from(u));
    const at9 = Float64Array.from(u);
    ropeRotate(at9, 0, 9, invFreq);
    const norm = (a: Float64Array) => Math.hypot(...a);
    expect(norm(at9)).toBeCloseTo(norm(u), 13);
  });

  it('scores depend only on the distance between positions (relative encoding)', () => {
    // With identical tokens every query-key pair differs only by position, so a query's weights over
    // its last k keys are the same at any absolute offset.
    const weightsAt = (n: number) => {
      const attn = createAttention({ dim: 4, positions: 'rope', precision: 'float64', withWeights: true, ropeBase: 100 });
      let last: Float64Array = new Float64Array();
      for (let i = 0; i < n; i++) last = attn.push([1, 0.5, -0.25, 2])[0]!.weights![0] as Float64Array;
      return last;
    };
    const short = weightsAt(3);
    const long = weightsAt(10);
    const tail = long.subarray(7);
    const ratio = (a: ArrayLike<number>) => [a[0]! / a[2]!, a[1]! / a[2]!];
    expectClose(ratio(tail), ratio(short), 1e-12);
  });

  it("'cache' positions equal 'absolute' positions until the window first evicts", () => {
    const xs = Array.from({ length: 6 }, (_, i) => [Math.sin(i), Math.cos(i), i / 3, 1]);
    const options = { dim: 4, positions: 'rope', window: 6, sinks: 1, precision: 'float64' } as const;
    const absolute = batchAttention(xs, options);
    const cache = batchAttention(xs, { ...options, ropePositions: 'cache' });
    cache.forEach((step, i) => expectClose(step.output, absolute[i]!.output, 1e-12));
  });

  it("'cache' positions on the WebAssembly kernels: past the sinks, the engine equals the reference, which differs from 'absolute'", () => {
    fc.assert(
      fc.property(
        fc.record({
          kvHeads: fc.integer({ min: 1, max: 2 }),
          group: fc.integer({ min: 1, max: 3 }),
          halfDim: fc.integer({ min: 1, max: 8 }),
          window: fc.integer({ min: 2, max: 6 }),
          sinks: fc.integer({ min: 1, max: 3 }),
          blockSize: fc.constantFrom(1, 2, 3, 64),
          seed: fc.integer(),
        }),
        ({ kvHeads, group, halfDim, window, sinks, blockSize, seed }) => {
          const heads = kvHeads * group;
          const headDim = 2 * halfDim;
          const dim = heads * headDim;
          const random = mulberry32(seed);
          const matrix = (rows: number) => Float64Array.from({ length: rows * dim }, () => (2 * random() - 1) / Math.sqrt(dim));
          const options = {
            dim,
            heads,
            kvHeads,
            headDim,
            weights: { wq: matrix(heads * headDim), wk: matrix(kvHeads * headDim), wv: matrix(kvHeads * headDim) },
            positions: 'rope',
            ropeBase: 10,
            ropePositions: 'cache',
            window,
            sinks,
            blockSize,
            withWeights: true,
          } as const;
          const xs = Array.from({ length: window + sinks + 12 }, () => Array.from({ length: dim }, () => 4 * random() - 2));
          const engine = createAttention(options);
          expect(engine.options.kernels).toBe('wasm');
          const steps = xs.flatMap((x) => engine.push(x));
          const reference = batchAttention(xs, { ...options, precision: 'float64' });
          steps.forEach((step, i) => {
            expectClose(step.output, reference[i]!.output, 1e-5, `output ${i}`);
            step.weights!.forEach((w, h) => expectClose(w, reference[i]!.weights![h]!, 1e-5, `weights ${i}, head ${h}`));
          });
          // Once the window has left the sinks behind, ranks are not positions: 'absolute' differs.
          const absolute = batchAttention(xs, { ...options, precision: 'float64', ropePositions: 'absolute' });
          const apart = Math.max(...reference.map((step, i) => scaledError(step.weights![0]!, absolute[i]!.weights![0]!)));
          expect(apart).toBeGreaterThan(1e-3);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('RoPE variants: interleaved pairs and partial rotary', () => {
  it('interleaved pairs (2m, 2m + 1), computed by hand for headDim 4 at position 3', () => {
    const u = new Float64Array([1, 2, 3, 4]);
    ropeRotate(u, 0, 3, ropeInverseFrequencies(4, 10000), true);
    const [c0, s0, c1, s1] = [Math.cos(3), Math.sin(3), Math.cos(0.03), Math.sin(0.03)];
    expectClose(u, [1 * c0 - 2 * s0, 2 * c0 + 1 * s0, 3 * c1 - 4 * s1, 4 * c1 + 3 * s1], 1e-15);
  });

  it('partial rotary turns the first ropeDim numbers at speeds of ropeDim and leaves the rest, bit for bit', () => {
    const u = new Float64Array([1, 2, 3, 4, 5, 6]);
    ropeRotate(u, 1, 7, ropeInverseFrequencies(2, 10000));
    // One pair, (u1, u2), at speed 10000^0 = 1: θ = 7.
    expectClose(u.subarray(1, 3), [2 * Math.cos(7) - 3 * Math.sin(7), 3 * Math.cos(7) + 2 * Math.sin(7)], 1e-15);
    expect([u[0], u[3], u[4], u[5]]).toEqual([1, 4, 5, 6]);
  });

  it('interleaved equals rotate-half with each head\'s query and key rows reordered the same way (float64, 1e-12)', () => {
    // Row 2m of a head goes to m and 2m + 1 to m + half: the scores' pairs then meet as rotate-half pairs them.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.integer(), (kvHeads, group, pairs, partial, seed) => {
        const random = mulberry32(seed);
        const heads = kvHeads * group;
        const headDim = 2 * pairs + (partial ? 2 : 0);
        const ropeDim = 2 * pairs;
        const dim = 5;
        const matrix = (rows: number) => Array.from({ length: rows * dim }, () => random() * 2 - 1);
        const reorder = (w: number[], count: number) => {
          const out = w.slice();
          for (let h = 0; h < count; h++) {
            for (let m = 0; m < pairs; m++) {
              for (const [from, to] of [[2 * m, m], [2 * m + 1, m + pairs]] as const) {
                for (let c = 0; c < dim; c++) out[(h * headDim + to) * dim + c] = w[(h * headDim + from) * dim + c]!;
              }
            }
          }
          return out;
        };
        const weights = { wq: matrix(heads * headDim), wk: matrix(kvHeads * headDim), wv: matrix(kvHeads * headDim) };
        const shape = { dim, heads, kvHeads, headDim, ropeDim, positions: 'rope' as const, precision: 'float64' as const, ropeBase: 50 };
        const xs = Array.from({ length: 9 }, () => Array.from({ length: dim }, () => random() * 4 - 2));
        const interleaved = batchAttention(xs, { ...shape, ropeStyle: 'interleaved', weights });
        const half = createAttention({ ...shape, weights: { ...weights, wq: reorder(weights.wq, heads), wk: reorder(weights.wk, kvHeads) } });
        xs.forEach((x, i) => expectClose(half.push(x)[0]!.output, interleaved[i]!.output, 1e-12));
      }),
      { numRuns: 60 },
    );
  });

  const { cases } = JSON.parse(readFileSync(new URL('./fixtures/rope-variants-numpy.json', import.meta.url), 'utf8')) as {
    cases: { name: string; options: AttentionOptions; x: number[][]; weights: AttentionWeights; outputs: number[][] }[];
  };
  it.each(cases.map((c) => [c.name, c] as const))('%s against numpy: float64 within 1e-12, float32 within 1e-5, on both kernel paths', (_, c) => {
    for (const [extra, tolerance] of [[{ precision: 'float64' }, 1e-12], [{ precision: 'float32' }, 1e-5], [{ precision: 'float32', kernels: 'js' }, 1e-5]] as const) {
      const options: AttentionOptions = { ...c.options, ...extra, weights: c.weights };
      const engine = createAttention(options);
      const many = createAttention(options).pushMany(c.x);
      const batch = batchAttention(c.x, options);
      c.x.forEach((x, i) => {
        expectClose(engine.push(x)[0]!.output, c.outputs[i]!, tolerance, `${c.name} push ${i}`);
        expectClose(many[i]!.output, c.outputs[i]!, tolerance, `${c.name} pushMany ${i}`);
        expectClose(batch[i]!.output, c.outputs[i]!, tolerance, `${c.name} batch ${i}`);
      });
    }
  });

  it('frequencies given as such are used as given, saved, and compared on restore', () => {
    const ropeFrequencies = [0.9, 0.01];
    const options: AttentionOptions = { dim: 4, positions: 'rope', ropeFrequencies, precision: 'float64', withWeights: true };
    const attn = createAttention(options);
    // With k = x rotated by p·f and q likewise, q·k depends on f through cos((i − j)·f): here f0 = 0.9 turns pair 0 by 0.9.
    attn.push([1, 0, 0, 0]);
    const [step] = attn.push([1, 0, 0, 0]);
    const z = Math.exp(Math.cos(0.9)) + Math.exp(1);
    expectClose(step!.weights![0]!, [Math.exp(Math.cos(0.9)) / z, Math.exp(1) / z], 1e-15);
    const bytes = attn.snapshot();
    expect(restoreAttention(bytes).options.invFreq).toEqual(Float64Array.from(ropeFrequencies));
    expect(() => restoreAttention(bytes, { ...options, ropeFrequencies: [0.9, 0.02] })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: 'option ropeFrequencies gives 0.02 at element 1 but the snapshot was taken with 0.01' }),
    );
    // 9e298: position 2^31's angle overflows (a positions audit found a push refused as "the input or the weights are too large").
    for (const [bad, code] of [[[0.9], 'DIMENSION_MISMATCH'], [[0.9, 0], 'INVALID_OPTION'], [[0.9, Number.NaN], 'INVALID_OPTION'], [[0.9, 9e298], 'INVALID_OPTION']] as const) {
      expect(() => createAttention({ ...options, ropeFrequencies: bad })).toThrow(expect.objectContaining({ code, details: expect.objectContaining({ field: 'ropeFrequencies' }) }));
    }
    expect(createAttention({ ...options, ropeFrequencies: [0.9, 8e298] }).push([0, 0, 0, 1])[0]!.output).toEqual(Float64Array.of(0, 0, 0, 1));
    expect(() => createAttention({ ...options, ropeBase: 100 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'ropeFrequencies' } }));
    expect(() => createAttention({ dim: 4, ropeFrequencies })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'ropeFrequencies' } }));
  });

  it('refuses an odd or too large ropeDim, an unknown style, and either without RoPE', () => {
    const refused = (options: AttentionOptions, field: string) =>
      expect(() => createAttention(options)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field } }));
    refused({ dim: 8, positions: 'rope', ropeDim: 3 }, 'ropeDim');
    refused({ dim: 8, positions: 'rope', ropeDim: 10 }, 'ropeDim');
    refused({ dim: 8, positions: 'rope', ropeStyle: 'gptj' as 'half' }, 'ropeStyle');
    refused({ dim: 8, ropeDim: 4 }, 'ropeDim');
    refused({ dim: 8, ropeStyle: 'interleaved' }, 'ropeStyle');
    refused({ dim: 5, positions: 'rope' }, 'positions');
    // An odd head rotates with an even ropeDim below it.
    expect(createAttention({ dim: 5, positions: 'rope', ropeDim: 4 }).options.ropeDim).toBe(4);
  });
});

describe('ALiBi slopes (Press et al.)', () => {
  it('H = 8: 2^-1 … 2^-8', () => {
    expect(Array.from(alibiSlopes(8))).toEqual([1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]);
  });

  it('H = 6: the slopes of 4 heads, then every other slope of 8', () => {
    expect(Array.from(alibiSlopes(6))).toEqual([1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 2, 1 / 8]);
  });

  it('H = 1 and H = 4', () => {
    expect(Array.from(alibiSlopes(1))).toEqual([1 / 256]);
    expect(Array.from(alibiSlopes(4))).toEqual([1 / 4, 1 / 16, 1 / 64, 1 / 256]);
  });

  it('the bias is −m·(i − j), added after scaling', () => {
    // Zero queries make every raw score 0, so the weights are softmax(−m·(i − j)) alone.
    const attn = createAttention({ dim: 2, positions: 'alibi', withWeights: true, precision: 'float64' });
    attn.push([0, 0]);
    attn.push([0, 0]);
    const [step] = attn.push([0, 0]);
    const m = 1 / 256;
    const e = [Math.exp(-2 * m), Math.exp(-m), 1];
    const z = e[0]! + e[1]! + e[2]!;
    expectClose(step!.weights![0]!, e.map((v) => v / z), 1e-15);
  });
});

describe("RoPE's angles, made once a step", () => {
  it('are the cos and sin of position · invFreq, made again only when the position moves, and rotate as ropeRotate does, bit for bit', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { minLength: 1, maxLength: 6 }), fc.boolean(), (positions, interleaved) => {
        const invFreq = ropeInverseFrequencies(8, 10000);
        const angles = new RopeAngles(invFreq);
        for (const p of positions) {
          angles.at(p);
          expect(Array.from(angles.cos)).toEqual(Array.from(invFreq, (f) => Math.cos(p * f)));
          expect(Array.from(angles.sin)).toEqual(Array.from(invFreq, (f) => Math.sin(p * f)));
          const u = Float64Array.from({ length: 10 }, (_, c) => Math.sin(p + c));
          const v = u.slice();
          ropeRotateBy(u, 1, angles, interleaved);
          ropeRotate(v, 1, p, invFreq, interleaved);
          expect(u).toEqual(v);
        }
      }),
    );
  });

  // Found by a cliff hunt: each kv head's key and each query head computed the same angles again,
  // so a windowed RoPE step cost 2–3× one without positions, more past 1.6 million tokens, where
  // Math.cos and Math.sin slow down.
  it("a step computes each position's angles once, whatever the number of heads", () => {
    for (const [options, positions] of [
      [{ dim: 128, heads: 8, kvHeads: 2, weights: {}, positions: 'rope', window: 4 }, 2],
      // The sinks' rank is the same every step once the window is full: its angles are kept.
      [{ dim: 128, heads: 8, kvHeads: 2, weights: {}, positions: 'rope', ropePositions: 'cache', window: 4, sinks: 1 }, 2],
      [{ dim: 128, heads: 8, kvHeads: 2, weights: {}, positions: 'rope', kernels: 'js' }, 2],
    ] as const) {
      const attn = createAttention(options);
      const row = (t: number, n: number) => Array.from({ length: n }, (_, c) => Math.sin(t + c));
      for (let t = 0; t < 8; t++) attn.pushQKV(row(t, 128), row(t + 1, 32), row(t + 2, 32));
      const cos = vi.spyOn(Math, 'cos');
      try {
        attn.pushQKV(row(9, 128), row(10, 32), row(11, 32));
        // headDim 16: 8 pairs a position, the key's and the query's (the same position here, made
        // once each: the key's table and the queries' are kept apart).
        expect(cos.mock.calls.length, JSON.stringify(options)).toBe(8 * positions);
      } finally {
        cos.mockRestore();
      }
    }
  });
});
