import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAttention, createCrossAttention, restoreAttention, restoreCrossAttention } from '../src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../src/cache/safetensors.js';
import type { AttentionWeights, CrossAttentionOptions } from '../src/index.js';
import { wasmKernelsAvailable } from '../src/kernels/wasm/wasm-arena.js';
import { expectClose, sum } from './support/close.js';
import { filePool } from './support/thread-pool.js';
import { mulberry32 } from './support/engine-arbitraries.js';
import { sameBits } from './support/same-bits.js';

const pool = filePool();

const KERNEL_PATHS = ['auto', 'js'] as const;

/**
 * Cross-attention from its formulas, in float64 plain loops: q = Wq·x + bq, k = Wk·m + bk,
 * v = Wv·m + bv, per query head a softmax of q·k·scale over every memory row (a sink logit as one
 * more score), the values weighed, heads concatenated, then Wo and bo. Returns each query's
 * output and its weights per head over the memory rows.
 */
function reference(o: { dim: number; heads: number; kvHeads: number; headDim: number; scale: number; sinkLogits?: number[]; weights?: AttentionWeights }, xs: number[][], memory: number[][]): { output: number[]; weights: number[][] }[] {
  const { dim, heads, kvHeads, headDim } = o;
  const linear = (w: ArrayLike<number> | undefined, b: ArrayLike<number> | undefined, x: number[], rows: number) =>
    w === undefined ? x : Array.from({ length: rows }, (_, r) => x.reduce((s, xc, c) => s + w[r * x.length + c]! * xc, b?.[r] ?? 0));
  const w = o.weights;
  const k = memory.map((m) => linear(w?.wk, w?.bk, m, kvHeads * headDim));
  const v = memory.map((m) => linear(w?.wv, w?.bv, m, kvHeads * headDim));
  return xs.map((x) => {
    const q = linear(w?.wq, w?.bq, x, heads * headDim);
    const merged: number[] = [];
    const weights: number[][] = [];
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / (heads / kvHeads));
      const scores = k.map((kj) => kj.slice(g * headDim, (g + 1) * headDim).reduce((s, kc, c) => s + kc * q[h * headDim + c]!, 0) * o.scale);
      const sink = o.sinkLogits?.[h] ?? -Infinity;
      const max = Math.max(sink, ...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const total = e.reduce((a, b) => a + b, Math.exp(sink - max));
      weights.push(e.map((ej) => ej / total));
      for (let c = 0; c < headDim; c++) merged.push(e.reduce((s, ej, j) => s + (ej / total) * v[j]![g * headDim + c]!, 0));
    }
    return { output: w?.wo === undefined ? merged : linear(w.wo, w.bo, merged, dim), weights };
  });
}

const crossCase = fc
  .record({
    kvHeads: fc.integer({ min: 1, max: 3 }),
    groupSize: fc.integer({ min: 1, max: 3 }),
    headDim: fc.integer({ min: 1, max: 6 }),
    projected: fc.boolean(),
    withWo: fc.boolean(),
    biases: fc.boolean(),
    sinks: fc.boolean(),
    memory: fc.integer({ min: 1, max: 40 }),
    queries: fc.integer({ min: 1, max: 5 }),
    blockSize: fc.constantFrom(2, 3, 64),
    magnitude: fc.constantFrom(0.5, 3),
    seed: fc.integer(),
  })
  .map((c) => {
    const random = mulberry32(c.seed);
    const heads = c.projected ? c.kvHeads * c.groupSize : c.kvHeads;
    const dim = heads * c.headDim;
    const numbers = (n: number, scale = 1) => Array.from({ length: n }, () => (2 * random() - 1) * scale);
    const weights: CrossAttentionOptions['weights'] = c.projected
      ? {
          wq: numbers(heads * c.headDim * dim, 1 / Math.sqrt(dim)),
          wk: numbers(c.kvHeads * c.headDim * dim, 1 / Math.sqrt(dim)),
          wv: numbers(c.kvHeads * c.headDim * dim, 1 / Math.sqrt(dim)),
          ...(c.withWo ? { wo: numbers(dim * dim, 1 / Math.sqrt(dim)) } : {}),
          ...(c.biases ? { bq: numbers(heads * c.headDim, 0.3), bk: numbers(c.kvHeads * c.headDim, 0.3), bv: numbers(c.kvHeads * c.headDim, 0.3) } : {}),
          ...(c.biases && c.withWo ? { bo: numbers(dim, 0.3) } : {}),
        }
      : undefined;
    const options: CrossAttentionOptions = {
      dim,
      heads,
      kvHeads: c.kvHeads,
      headDim: c.headDim,
      blockSize: c.blockSize,
      withWeights: true,
      ...(weights === undefined ? {} : { weights }),
      ...(c.sinks ? { sinkLogits: numbers(heads, 2) } : {}),
    };
    return { options, memory: Array.from({ length: c.memory }, () => numbers(dim, c.magnitude)), xs: Array.from({ length: c.queries }, () => numbers(dim, c.magnitude)) };
  });

describe('createCrossAttention: queries over a fixed memory (an encoder-decoder model)', () => {
  const { cases } = JSON.parse(readFileSync(new URL('./fixtures/cross-attention-numpy.json', import.meta.url), 'utf8')) as {
    cases: { name: string; options: CrossAttentionOptions; x: number[][]; memory: number[][]; weights: CrossAttentionOptions['weights']; outputs: number[][] }[];
  };

  it.each(cases.map((c) => [c.name, c] as const))('%s against numpy: float64 within 1e-12, float32 within 1e-5 on both kernel paths, one by one and at once', (_, c) => {
    const runs = [['float64', 'auto', 1e-12], ['float32', 'auto', 1e-5], ['float32', 'js', 1e-5]] as const;
    for (const [precision, kernels, tolerance] of runs) {
      const cross = createCrossAttention({ ...c.options, weights: c.weights, precision, kernels });
      expect(cross.options.kernels).toBe(precision === 'float32' && kernels === 'auto' && wasmKernelsAvailable() ? 'wasm' : 'js');
      cross.setMemory(c.memory);
      const many = cross.attendMany(c.x);
      c.x.forEach((x, i) => {
        expectClose(cross.attend(x).output, c.outputs[i]!, tolerance, `${c.name} ${precision} ${kernels} attend ${i}`);
        expectClose(many[i]!.output, c.outputs[i]!, tolerance, `attendMany ${i}`);
      });
    }
  });

  it('equals the formulas for any head layout, projections or none, biases, sink logits and block size, outputs and every weight: float64 to 1e-12, float32 to 1e-5; weights summing to 1 less a sink', () => {
    // Weights lie in [0, 1], so they are compared absolutely; their sum is the formula's too
    // (less the sink's share), to the same tolerance.
    fc.assert(
      fc.property(crossCase, ({ options, memory, xs }) => {
        const expected = reference({ ...(options as { dim: number; heads: number; kvHeads: number; headDim: number }), scale: options.weights === undefined ? 1 : 1 / Math.sqrt(options.headDim!), ...(options.sinkLogits === undefined ? {} : { sinkLogits: options.sinkLogits as number[] }), ...(options.weights === undefined ? {} : { weights: options.weights }) }, xs, memory);
        for (const [precision, kernels, tolerance] of [['float64', 'auto', 1e-12], ['float32', 'auto', 1e-5], ['float32', 'js', 1e-5]] as const) {
          const cross = createCrossAttention({ ...options, precision, kernels });
          cross.setMemory(memory);
          cross.attendMany(xs).forEach((step, i) => {
            expectClose(step.output, expected[i]!.output, tolerance, `${precision} ${kernels} query ${i}`);
            expect(Array.from(step.positions!)).toEqual(memory.map((_, j) => j));
            expect(step.index).toBe(i);
            expect(step.weights).toHaveLength(options.heads!);
            step.weights!.forEach((w, h) => {
              const formula = expected[i]!.weights[h]!;
              expect(w).toHaveLength(memory.length);
              w.forEach((a, j) => expect(Math.abs(a - formula[j]!), `${precision} ${kernels} query ${i} head ${h} row ${j}`).toBeLessThanOrEqual(tolerance));
              if (options.sinkLogits === undefined) expect(Math.abs(sum(w) - 1)).toBeLessThanOrEqual(tolerance);
              else expect(Math.abs(sum(w) - sum(formula))).toBeLessThanOrEqual(tolerance);
            });
          });
          cross.dispose();
        }
      }),
      { numRuns: 120 },
    );
  });

  it('gives attend and attendMany the same bits, a thread pool the same bits as one thread, and an int8 memory its own cache', () => {
    fc.assert(
      fc.property(crossCase, ({ options, memory, xs }) => {
        const alone = createCrossAttention(options);
        const split = createCrossAttention({ ...options, threads: pool() });
        for (const cross of [alone, split]) cross.setMemory(memory);
        const many = alone.attendMany(xs);
        const pooled = split.attendMany(xs);
        xs.forEach((x, i) => {
          expect(sameBits(alone.attend(x).output, many[i]!.output)).toBe(true);
          expect(sameBits(pooled[i]!.output, many[i]!.output)).toBe(true);
        });
        const int8 = createCrossAttention({ ...options, cacheDtype: 'int8' });
        int8.setMemory(memory);
        // Full blocks are quantized (a quarter of the bytes); a filling one stays float until it is full.
        if (memory.length >= 2 * options.blockSize! && options.headDim! >= 4) expect(int8.stats().bytes).toBeLessThan(alone.stats().bytes);
        expect(int8.attendMany(xs).every((step) => step.output.every(Number.isFinite))).toBe(true);
        for (const cross of [alone, split, int8]) cross.dispose();
      }),
      { numRuns: 40 },
    );
  });

  it('replaces its memory on setMemory; a refused setMemory leaves the old memory; a refused attend changes nothing', () => {
    for (const kernels of KERNEL_PATHS) {
      const cross = createCrossAttention({ dim: 2, precision: 'float64', kernels });
      cross.setMemory([[1, 0], [0, 1]]);
      const before = cross.attend([2, 0]);
      const refused = (rows: unknown[], code: string, details: object) =>
        expect(() => cross.setMemory(rows as number[][])).toThrow(expect.objectContaining({ code, details: expect.objectContaining(details) }));
      refused([[1, 1], [1]], 'DIMENSION_MISMATCH', { field: 'memory', token: 1 });
      refused([[1, 1], [Number.NaN, 1]], 'NON_FINITE', { field: 'memory', token: 1, element: 0 });
      refused([null], 'INVALID_ARGUMENT', { field: 'memory', token: 0 });
      expect(() => cross.setMemory('rows' as unknown as number[][])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'memory' } }));
      expect(cross.memoryLength).toBe(2);
      expect(() => cross.attend([1, Infinity])).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'x', token: 1 }) }));
      expect(Array.from(cross.attend([2, 0]).output)).toEqual(Array.from(before.output));
      cross.setMemory([[0, 1]]);
      expect(Array.from(cross.attend([2, 0]).output)).toEqual([0, 1]);
      // An empty list empties the memory, as setMemory's documentation says.
      cross.setMemory([]);
      expect(cross.memoryLength).toBe(0);
      expect(() => cross.attend([2, 0])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'memory' } }));
      cross.dispose();
      cross.dispose();
      expect(cross.disposed).toBe(true);
      expect(() => cross.attend([1, 1])).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
      expect(() => cross.setMemory([[1, 1]])).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
    }
  });

  it('forks: one copy of the weights and the memory shared, each fork on its own from then on, the weights kept until the last is disposed', () => {
    for (const kernels of KERNEL_PATHS) {
      const w = (seed: number) => Array.from({ length: 16 }, (_, i) => Math.sin(seed * 7 + i));
      const options: CrossAttentionOptions = { dim: 4, heads: 2, kernels, withWeights: true, blockSize: 2, weights: { wq: w(1), wk: w(2), wv: w(3), wo: w(4), bq: [0.5, 0, 0, 1] } };
      const rows = [[1, 2, 3, 4], [4, 3, 2, 1], [0, 1, 0, 1]];
      const model = createCrossAttention(options);
      model.setMemory(rows);
      model.attend([1, 0, 0, 1]);
      const beam = model.fork();
      expect(beam.options).toBe(model.options);
      expect(beam.memoryLength).toBe(3);
      expect(beam.stats()).toEqual(expect.objectContaining({ blocks: 2, sharedBlocks: 2 }));
      const fresh = createCrossAttention(options);
      fresh.setMemory(rows);
      fresh.attend([1, 0, 0, 1]);
      const x = [0.3, -1, 2, 0.5];
      const [fromBeam, fromModel, fromFresh] = [beam.attend(x), model.attend(x), fresh.attend(x)];
      expect(fromBeam.index).toBe(1);
      expect(fromBeam).toEqual(fromFresh);
      expect(fromModel).toEqual(fromFresh);
      // A session of its own: new memory in the fork, the model's untouched.
      beam.setMemory([[0, 0, 1, 0]]);
      expect(model.memoryLength).toBe(3);
      expect(model.stats().sharedBlocks).toBe(0);
      expect(model.attend(x).output).toEqual(fresh.attend(x).output);
      model.dispose();
      expect(() => model.fork()).toThrow(expect.objectContaining({ code: 'DISPOSED', details: { field: 'fork' } }));
      const alone = createCrossAttention(options);
      alone.setMemory([[0, 0, 1, 0]]);
      expect(beam.attend(x).output).toEqual(alone.attend(x).output);
      expect(beam.options.weights!.wo).toEqual(alone.options.weights!.wo);
      // fresh and alone share the copy too (equal weights): the beam is the last holder here.
      [fresh, alone].forEach((c) => c.dispose());
      beam.dispose();
      if (kernels === 'auto' && wasmKernelsAvailable()) {
        // The arena's copy went with the last holder.
        expect(() => beam.options.weights!.wq).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
      }
    }
  });

  it('refuses to attend an empty memory, options that place keys in a stream, and weights without wq, wk, wv', () => {
    expect(() => createCrossAttention({ dim: 2 }).attend([1, 1])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'memory' } }));
    for (const option of [{ positions: 'rope' }, { window: 4 }, { lookahead: 1 }, { sinks: 0 }, { ropeBase: 100 }]) {
      const key = Object.keys(option)[0]!;
      expect(() => createCrossAttention({ dim: 4, ...option } as unknown as CrossAttentionOptions)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: key } }));
    }
    // Left undefined (options spread from an engine's), a stream option is absent, as createAttention reads it.
    const spread = createCrossAttention({ dim: 2, window: undefined, positions: undefined, lookahead: undefined } as unknown as CrossAttentionOptions);
    spread.setMemory([[1, 0], [0, 1]]);
    const plain = createCrossAttention({ dim: 2 });
    plain.setMemory([[1, 0], [0, 1]]);
    expect(spread.attend([2, 0]).output).toEqual(plain.attend([2, 0]).output);
    expect(() => createCrossAttention({ dim: 2, weights: {} } as unknown as CrossAttentionOptions)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'weights' } }));
    expect(() => createCrossAttention({ dim: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'dim' } }));
    // An unknown key's message lists cross-attention's options, not those it refuses.
    const unknown = () => createCrossAttention({ dim: 2, windw: 3 } as unknown as CrossAttentionOptions);
    expect(unknown).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'windw' }, message: expect.stringContaining('known: dim, heads') }));
    expect(unknown).toThrow(expect.objectContaining({ message: expect.not.stringMatching(/positions|window|sinks|lookahead|rope/) }));
  });

  it('snapshots: restored with the run choices, the options or onto the model (weights left out), it attends bit for bit as the original on the same kernels, index included', () => {
    fc.assert(
      fc.property(crossCase, fc.constantFrom('float32', 'float64'), fc.constantFrom(...KERNEL_PATHS), fc.boolean(), ({ options, memory, xs }, precision, kernels, int8) => {
        const o: CrossAttentionOptions = { ...options, precision, kernels, ...(int8 ? { cacheDtype: 'int8' as const } : {}) };
        const model = createCrossAttention(o);
        const session = model.fork();
        session.setMemory(memory);
        session.attend(xs[0]!);
        // The kernels are a run choice, not stored: bit for bit holds on the same ones.
        const restored = [
          restoreCrossAttention(session.snapshot(), { kernels }),
          restoreCrossAttention(session.snapshot(), o),
          restoreCrossAttention(session.snapshot({ weights: false }), o.weights === undefined ? o : model),
        ];
        if (o.weights !== undefined) expect(restored[2]!.options).toBe(model.options);
        for (const x of xs) {
          const expected = session.attend(x);
          for (const back of restored) expect(back.attend(x)).toEqual(expected);
        }
        for (const c of [model, session, ...restored]) c.dispose();
      }),
      { numRuns: 60 },
    );
  });

  it('refuses an engine\'s file and a corrupt one (CORRUPT_SNAPSHOT), another model\'s weights (INVALID_OPTION) and a disposed model (DISPOSED)', () => {
    const w = (seed: number) => Array.from({ length: 4 }, (_, i) => Math.sin(seed + i));
    const options: CrossAttentionOptions = { dim: 2, weights: { wq: w(1), wk: w(2), wv: w(3) } };
    const model = createCrossAttention(options);
    model.setMemory([[1, 2], [3, 4]]);
    const bytes = model.snapshot();
    const refusal = (run: () => unknown, code: string, field: string) => expect(run).toThrow(expect.objectContaining({ code, details: expect.objectContaining({ field }) }));
    refusal(() => restoreCrossAttention(createAttention({ dim: 2 }).snapshot()), 'UNSUPPORTED_SNAPSHOT', 'format');
    refusal(() => restoreAttention(bytes), 'UNSUPPORTED_SNAPSHOT', 'format');
    refusal(() => restoreCrossAttention(bytes, createAttention({ dim: 2 }) as never), 'INVALID_ARGUMENT', 'model');
    const edited = (edit: (metadata: Record<string, string>) => void, file = bytes) => {
      const { tensors, metadata } = decodeSafetensors(file);
      const changed = { ...metadata };
      edit(changed);
      return encodeSafetensors(Object.fromEntries(tensors), changed);
    };
    refusal(() => restoreCrossAttention(edited((m) => delete m['attended'])), 'CORRUPT_SNAPSHOT', 'snapshot');
    refusal(() => restoreCrossAttention(edited((m) => (m['attended'] = '-1'))), 'CORRUPT_SNAPSHOT', 'snapshot');
    const withWindow = edited((m) => (m['options'] = JSON.stringify({ ...JSON.parse(m['options']!), window: 4 })));
    expect(() => restoreCrossAttention(withWindow)).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: expect.stringContaining('place keys in a stream') }));
    refusal(() => restoreCrossAttention(bytes, { ...options, window: 4 } as unknown as CrossAttentionOptions), 'INVALID_OPTION', 'window');
    // An int8 cache takes retain without a window; a cross-attention's file holding it is no file it writes (a review).
    const int8 = createCrossAttention({ ...options, cacheDtype: 'int8' });
    int8.setMemory([[1, 2], [3, 4]]);
    const withRetain = edited((m) => (m['options'] = JSON.stringify({ ...JSON.parse(m['options']!), retain: 3 })), int8.snapshot());
    expect(() => restoreCrossAttention(withRetain)).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: expect.stringContaining('look-ahead or retain') }));
    // The file first, as restoreAttention: options a cross-attention does not take, given with a
    // damaged file or an engine's, are not what is reported.
    const damaged = bytes.slice();
    damaged[damaged.length - 10]! ^= 1;
    refusal(() => restoreCrossAttention(damaged, { ...options, window: 4 } as unknown as CrossAttentionOptions), 'CORRUPT_SNAPSHOT', 'snapshot');
    refusal(() => restoreCrossAttention(createAttention({ dim: 2 }).snapshot(), { ...options, window: 4 } as unknown as CrossAttentionOptions), 'UNSUPPORTED_SNAPSHOT', 'format');
    const other = createCrossAttention({ ...options, weights: { ...options.weights!, wv: w(9) } });
    refusal(() => restoreCrossAttention(model.snapshot({ weights: false }), other), 'INVALID_OPTION', 'weights');
    other.dispose();
    refusal(() => restoreCrossAttention(bytes, other), 'DISPOSED', 'model');
    model.dispose();
    refusal(() => model.snapshot(), 'DISPOSED', 'snapshot');
  });

  it('refuses a query past 2^53 − 1 attended (OUT_OF_RANGE), so that every index is exact and every snapshot restores', () => {
    // Found by a fuzzer: a file's `attended` of 2^53 − 1 restored, and the next query's snapshot
    // (attended 2^53) was refused as corrupt.
    const cross = createCrossAttention({ dim: 2 });
    cross.setMemory([[1, 0], [0, 1]]);
    const { tensors, metadata } = decodeSafetensors(cross.snapshot());
    const near = restoreCrossAttention(encodeSafetensors(Object.fromEntries(tensors), { ...metadata, attended: String(Number.MAX_SAFE_INTEGER - 1) }));
    expect(near.attend([1, 1]).index).toBe(Number.MAX_SAFE_INTEGER - 1);
    const full = near.snapshot();
    expect(decodeSafetensors(full).metadata['attended']).toBe(String(Number.MAX_SAFE_INTEGER));
    expect(() => restoreCrossAttention(full)).not.toThrow();
    for (const run of [() => near.attend([1, 1]), () => near.attendMany([[1, 1]])]) {
      expect(run).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE', details: expect.objectContaining({ expected: `0..${Number.MAX_SAFE_INTEGER}`, actual: Number.MAX_SAFE_INTEGER + 1 }) }));
    }
    expect(near.snapshot()).toEqual(full);
  });
});
