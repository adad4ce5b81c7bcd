import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArenaWeights, sharedCopy, WIDEN_FROM } from '../src/attention/arena-weights.js';
import { resolveOptions } from '../src/attention/options.js';
import { attentionFromResolved } from '../src/attention/create-attention.js';
import { createAttention, createCrossAttention, pushEach } from '../src/index.js';
import type { Attention, CrossAttentionOptions } from '../src/index.js';
import { sharedWasmArena, wasmArena } from '../src/kernels/wasm/wasm-arena.js';
import { createThreadPool } from '../src/threads/index.js';
import { mulberry32 } from './support/engine-arbitraries.js';
import { projectFloat32 } from './support/float32-project.js';
import { productsFused } from './support/fused-products.js';

/** Options with all four projections (on the default kernels, WebAssembly here), weights drawn from `seed`. */
function projected(shape: { heads: number; kvHeads: number; headDim: number; dim: number }, seed: number): CrossAttentionOptions {
  const { heads, kvHeads, headDim, dim } = shape;
  const random = mulberry32(seed);
  const matrix = (rows: number, cols: number) => Float32Array.from({ length: rows * cols }, () => (random() * 2 - 1) / Math.sqrt(cols));
  return {
    ...shape,
    weights: { wq: matrix(heads * headDim, dim), wk: matrix(kvHeads * headDim, dim), wv: matrix(kvHeads * headDim, dim), wo: matrix(dim, heads * headDim) },
  };
}

/**
 * Bytes of the array buffers reachable from `root` through properties, but for the kernels'
 * memory (a WebAssembly.Memory's buffer, or a shared one): what an object holds in TypeScript.
 */
function bytesOutsideTheArena(root: unknown): number {
  const seen = new Set<unknown>();
  const buffers = new Set<ArrayBufferLike>();
  const arenas = new Set<ArrayBufferLike>();
  const pending = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (value === null || (typeof value !== 'object' && typeof value !== 'function') || seen.has(value)) continue;
    seen.add(value);
    if (ArrayBuffer.isView(value)) buffers.add(value.buffer);
    else if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) buffers.add(value);
    else if (value instanceof WebAssembly.Memory) arenas.add(value.buffer);
    else if (value instanceof Map) value.forEach((v, k) => pending.push(k, v));
    else if (value instanceof Set) value.forEach((v) => pending.push(v));
    else for (const d of Object.values(Object.getOwnPropertyDescriptors(value))) if ('value' in d) pending.push(d.value);
  }
  let bytes = 0;
  for (const buffer of buffers) if (!arenas.has(buffer) && !(buffer instanceof SharedArrayBuffer)) bytes += buffer.byteLength;
  return bytes;
}

const shapeArbitrary = fc
  .record({ kvHeads: fc.integer({ min: 1, max: 3 }), groupSize: fc.integer({ min: 1, max: 3 }), headDim: fc.integer({ min: 1, max: 9 }), extra: fc.integer({ min: 0, max: 5 }) })
  .map(({ kvHeads, groupSize, headDim, extra }) => ({ heads: kvHeads * groupSize, kvHeads, headDim, dim: kvHeads * groupSize * headDim + extra }));

function tokens(count: number, dim: number, seed: number): Float32Array[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => Float32Array.from({ length: dim }, () => (random() * 2 - 1) * 3));
}

/**
 * Lets the garbage collector take what nothing references and run its finalizers: a WeakRef holds
 * its target until the job that made it ends, and a finalizer runs in a later job.
 */
async function settle(): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
  }
}

describe('projections on the WebAssembly kernels (the matrices copied into the arena)', () => {
  it('run here: the default kernels resolve to WebAssembly', () => {
    expect(resolveOptions(projected({ heads: 1, kvHeads: 1, headDim: 2, dim: 2 }, 1)).kernels).toBe('wasm');
  });

  it("a single push projects in the project kernel's float32 order: token 0's output is wo · v_0 exactly so", () => {
    fc.assert(
      fc.property(shapeArbitrary, fc.integer(), (shape, seed) => {
        const attn = createAttention(projected(shape, seed));
        const o = attn.options;
        const [x] = tokens(1, shape.dim, seed + 1);
        const output = attn.push(x!)[0]!.output;
        const v = new Float32Array(o.kvHeads * o.headDim);
        const fused = productsFused(wasmArena()!);
        projectFloat32(v, 0, o.weights!.wv as Float32Array, x!, 0, o.kvHeads * o.headDim, o.dim, fused);
        // One key: every head's weight is 1, so its output is its kv head's value.
        const heads = Float64Array.from({ length: o.heads * o.headDim }, (_, i) => v[Math.floor(i / o.headDim / o.groupSize) * o.headDim + (i % o.headDim)]!);
        const expected = new Float32Array(o.dim);
        projectFloat32(expected, 0, o.weights!.wo as Float32Array, heads, 0, o.dim, o.heads * o.headDim, fused);
        expect(output).toEqual(expected);
        attn.dispose();
      }),
      { numRuns: 100 },
    );
  });

  it("an input beyond float32's range, which the kernel's float32 copy of x cannot hold, is refused and changes nothing", () => {
    const shape = { heads: 2, kvHeads: 1, headDim: 4, dim: 8 };
    const attn = createAttention(projected(shape, 5));
    const [x0, x1] = tokens(2, shape.dim, 6);
    attn.push(x0!);
    const before = attn.snapshot();
    const huge = Float64Array.from(x1!, (v, i) => (i === 3 ? 1e39 : v));
    for (const push of [() => attn.push(huge), () => attn.pushMany([x1!, huge])]) {
      expect(push).toThrow(expect.objectContaining({ code: 'NON_FINITE', message: expect.stringContaining("element 3 is 1e+39, beyond float32's range") }));
      expect(attn.snapshot()).toEqual(before);
    }
    attn.dispose();
  });

  it('a fork shares the copy, which outlives the parent: disposing the parent and reusing its memory changes nothing for the fork', () => {
    fc.assert(
      fc.property(shapeArbitrary, fc.integer(), (shape, seed) => {
        const xs = tokens(5, shape.dim, seed + 1);
        const control = createAttention(projected(shape, seed));
        const expected = xs.map((x) => control.push(x)[0]!.output);
        const parent = createAttention(projected(shape, seed));
        xs.slice(0, 3).forEach((x) => parent.push(x));
        const fork = parent.fork();
        parent.dispose();
        // Same shapes, other weights: these take the regions a wrongly released copy would free.
        const others = [1, 2].map((k) => createAttention(projected(shape, seed + 100 * k)));
        others.forEach((other) => other.push(xs[0]!));
        expect(fork.push(xs[3]!)[0]!.output).toEqual(expected[3]);
        expect(fork.push(xs[4]!)[0]!.output).toEqual(expected[4]);
        [control, fork, ...others].forEach((e) => e.dispose());
      }),
      { numRuns: 60 },
    );
  });

  it('the copy goes back to the arena when its last holder releases it', () => {
    // An arena of its own: in the process's, a region freed by an earlier test may be cut for
    // `meanwhile` below the copy (the arena cuts free regions before it grows), and come back first.
    const arena = sharedWasmArena()!;
    const o = resolveOptions(projected({ heads: 4, kvHeads: 2, headDim: 8, dim: 35 }, 7));
    const copy = ArenaWeights.copy(arena, o)!;
    copy.retain();
    copy.release();
    const meanwhile = arena.allocate(copy.bytes);
    expect(meanwhile).not.toBe(copy.offset);
    arena.release(meanwhile, copy.bytes);
    copy.release();
    // Freed regions of one size are reused first: the next region of that size is the copy's.
    const next = arena.allocate(copy.bytes);
    expect(next).toBe(copy.offset);
    arena.release(next, copy.bytes);
  });

  it('copies hold at most their budget of an arena together; a copy given back makes room again', () => {
    // A fresh arena, so no other engine's copy counts.
    const arena = sharedWasmArena()!;
    const o = resolveOptions(projected({ heads: 4, kvHeads: 2, headDim: 8, dim: 35 }, 7));
    const first = ArenaWeights.copy(arena, o)!;
    const budget = 2.5 * first.bytes;
    const second = ArenaWeights.copy(arena, o, budget)!;
    expect(second).not.toBeNull();
    expect(ArenaWeights.copy(arena, o, budget)).toBeNull();
    second.retain();
    second.release();
    expect(ArenaWeights.copy(arena, o, budget)).toBeNull();
    first.release();
    const third = ArenaWeights.copy(arena, o, budget)!;
    expect(third).not.toBeNull();
    expect(ArenaWeights.copy(arena, o, budget)).toBeNull();
    second.release();
    third.release();
    // Everything given back: the whole budget is free again.
    const again = [ArenaWeights.copy(arena, o, budget), ArenaWeights.copy(arena, o, budget)];
    expect(again.every((copy) => copy !== null)).toBe(true);
    again.forEach((copy) => copy!.release());
  });

  it("keeps one copy of the matrices, the kernels': options.weights reads them out of the arena while the engine or a fork lives", () => {
    const shape = { heads: 4, kvHeads: 2, headDim: 16, dim: 64 };
    const options = projected(shape, 11);
    const given = options.weights!;
    const engine = createAttention(options);
    const matrixBytes = (given.wq as Float32Array).byteLength;
    // Before, the options held a float32 copy of each matrix beside the arena's: 4 matrices' bytes.
    expect(bytesOutsideTheArena(engine)).toBeLessThan(matrixBytes);
    for (const name of ['wq', 'wk', 'wv', 'wo'] as const) {
      const read = engine.options.weights![name]!;
      expect(read, name).toEqual(given[name]);
      // Each read is the caller's own array: writing to it changes no projection.
      read.fill(0);
    }
    const x = tokens(1, shape.dim, 5)[0]!;
    const twin = createAttention(options);
    expect(engine.push(x)[0]!.output).toEqual(twin.push(x)[0]!.output);
    // It shares the engine's copy (equal weights): released, so that the fork below is the last holder.
    twin.dispose();
    const fork = engine.fork();
    engine.dispose();
    expect(fork.options.weights!.wo).toEqual(given.wo);
    fork.dispose();
    expect(() => fork.options.weights!.wq).toThrow(expect.objectContaining({ code: 'DISPOSED', details: { field: 'weights.wq' } }));
    // Cross-attention keeps one copy too.
    const cross = createCrossAttention(options);
    expect(bytesOutsideTheArena(cross)).toBeLessThan(matrixBytes);
    expect(cross.options.weights!.wk).toEqual(given.wk);
    cross.dispose();
    // The biases are no matrices: they stay readable.
    const biased = createAttention({ ...options, weights: { ...given, bo: new Float32Array(shape.dim).fill(0.5) } });
    biased.dispose();
    expect(Array.from(biased.options.weights!.bo!)).toEqual(new Array(shape.dim).fill(0.5));
  });

  it("nor keeps the resolved options' own matrices alive where no reference shows (a getter's scope held them: found by a memory audit)", async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const shape = { heads: 4, kvHeads: 2, headDim: 16, dim: 64 };
    const options = projected(shape, 11);
    const made = (): [Attention, WeakRef<object>[]] => {
      const o = resolveOptions(options);
      return [attentionFromResolved(o), (['wq', 'wk', 'wv', 'wo'] as const).map((name) => new WeakRef(o.weights![name]!))];
    };
    const [engine, matrices] = made();
    // A WeakRef holds its target until the job that made it ends.
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    expect(matrices.map((ref) => ref.deref() === undefined)).toEqual([true, true, true, true]);
    expect(engine.options.weights!.wv).toEqual(options.weights!.wv);
    engine.dispose();
  });

  it('an engine dropped without dispose gives its hold on a shared copy back when collected: the model\'s dispose then frees the copy (a fuzz of shared copies: the dropped session pinned it)', async () => {
    const shape = { heads: 4, kvHeads: 2, headDim: 16, dim: 64 };
    const options = projected(shape, 53);
    const model = createAttention(options);
    const x = tokens(1, shape.dim, 54)[0]!;
    // A session over equal weights, dropped without dispose: it shares the model's copy.
    (() => void createAttention(options).push(x))();
    // A fork dropped the same way.
    (() => void model.fork().push(x))();
    await settle();
    model.dispose();
    await settle();
    expect(() => model.options.weights!.wq).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
  });

  it('likewise on a thread pool, whose last pushing engine is not kept for it (a review: the pool held it until another engine pushed)', async () => {
    const pool = await createThreadPool(2);
    try {
      const shape = { heads: 4, kvHeads: 2, headDim: 16, dim: 64 };
      const options = { ...projected(shape, 57), threads: pool };
      const model = createAttention(options);
      const x = tokens(1, shape.dim, 58)[0]!;
      // The last engine to push on the pool, dropped without dispose.
      (() => void createAttention(options).push(x))();
      await settle();
      model.dispose();
      await settle();
      expect(() => model.options.weights!.wq).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
    } finally {
      await pool.close();
    }
  });

  it('engines made from one resolved options (an rx operator\'s subscriptions) share one copy, and go through pushEach together', () => {
    const shape = { heads: 4, kvHeads: 2, headDim: 8, dim: 32 };
    const o = resolveOptions(projected(shape, 31));
    const [a, b] = [attentionFromResolved(o), attentionFromResolved(o)];
    expect(a.options).toBe(b.options);
    const xs = tokens(2, shape.dim, 32);
    const together = pushEach([a, b], xs);
    const alone = xs.map((x) => createAttention(projected(shape, 31)).push(x));
    expect(together).toEqual(alone);
    a.dispose();
    b.dispose();
    // Every holder gone: the next engine makes a fresh copy, with the same numbers.
    const c = attentionFromResolved(o);
    expect(c.options.weights!.wq).toEqual(resolveOptions(projected(shape, 31)).weights!.wq);
    expect(c.push(xs[0]!)).toEqual(alone[0]);
    c.dispose();
  });

  it('engines made by separate calls over equal weights (one per session) share one copy, compared in full, whatever arrays held them (a speed audit: each call copied the weights again, past 2 GiB into TypeScript projections)', () => {
    const arena = wasmArena()!;
    // wq is 64 × 64: the fingerprint reads 1,024 of its 4,096 entries, 0, 4, 8, …
    const shape = { heads: 4, kvHeads: 2, headDim: 16, dim: 64 };
    const options = projected(shape, 41);
    const asLists = { ...options, weights: Object.fromEntries(Object.entries(options.weights!).map(([name, m]) => [name, Array.from(m as Float32Array)])) };
    const first = sharedCopy(arena, resolveOptions(options))!;
    const again = sharedCopy(arena, resolveOptions(asLists))!;
    expect(again.copy).toBe(first.copy);
    // One entry the fingerprint does not read, a -0 for a +0, or another storage format: another copy.
    const w = options.weights as unknown as { wq: Float32Array };
    const unsampled = { ...options, weights: { ...options.weights, wq: w.wq.map((x, i) => (i === 1 ? x + 2 ** -20 : x)) } };
    const signed = { ...options, weights: { ...options.weights, wq: w.wq.map((x, i) => (i === 5 ? 0 : x)) } };
    const signedMinus = { ...options, weights: { ...options.weights, wq: w.wq.map((x, i) => (i === 5 ? -0 : x)) } };
    const others = [unsampled, { ...options, weightsDtype: 'bfloat16' as const }].map((o) => sharedCopy(arena, resolveOptions(o))!);
    for (const other of others) expect(other.copy).not.toBe(first.copy);
    const [plus, minus] = [signed, signedMinus].map((o) => sharedCopy(arena, resolveOptions(o))!);
    expect(minus!.copy).not.toBe(plus!.copy);
    for (const made of [first, again, ...others, plus!, minus!]) made.copy.release();
    expect(first.copy.live).toBe(false);
  });

  it('an engine sharing a separately created engine\'s copy keeps it after that engine is disposed and its memory reused', () => {
    fc.assert(
      fc.property(shapeArbitrary, fc.integer(), (shape, seed) => {
        const xs = tokens(4, shape.dim, seed + 1);
        const control = createAttention({ ...projected(shape, seed), kernels: 'js' });
        const expected = xs.map((x) => control.push(x)[0]!.output);
        const [a, b] = [createAttention(projected(shape, seed)), createAttention(projected(shape, seed))];
        xs.slice(0, 2).forEach((x) => [a, b].forEach((e) => e.push(x)));
        a.dispose();
        const others = [1, 2].map((k) => createAttention(projected(shape, seed + 100 * k)));
        others.forEach((other) => other.push(xs[0]!));
        const [s2, s3] = [b.push(xs[2]!)[0]!.output, b.push(xs[3]!)[0]!.output];
        // The TypeScript kernels sum in float64: the float32 tolerance.
        for (const [got, want] of [[s2, expected[2]!], [s3, expected[3]!]] as const) got.forEach((v, c) => expect(Math.abs(v - want[c]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[c]!))));
        [control, b, ...others].forEach((e) => e.dispose());
      }),
      { numRuns: 40 },
    );
  });

  it("projects over the arena's copy in TypeScript when the kernels' scratch cannot grow", async () => {
    const own = await createThreadPool(2);
    try {
      const shape = { heads: 4, kvHeads: 2, headDim: 8, dim: 40 };
      const options = projected(shape, 21);
      const xs = tokens(6, shape.dim, 22);
      const starved = createAttention({ ...options, threads: own });
      // Fill the arena (4 GiB at most; reserved, never touched) so the next push's scratch cannot grow.
      for (let size = 2 ** 30; size >= 2 ** 16; ) if (own.arena.allocate(size) < 0) size /= 2;
      const twin = createAttention({ ...options, kernels: 'js' });
      for (const x of xs) {
        const [got, want] = [starved.push(x)[0]!.output, twin.push(x)[0]!.output];
        got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want[i]!))));
      }
    } finally {
      await own.close();
    }
  });

  it('float64 weights and seed mode keep the TypeScript projections', () => {
    const arena = wasmArena()!;
    const shape = { heads: 2, kvHeads: 2, headDim: 4, dim: 8 };
    expect(ArenaWeights.copy(arena, resolveOptions({ ...projected(shape, 3), precision: 'float64' }))).toBeNull();
    expect(ArenaWeights.copy(arena, resolveOptions({ dim: 8 }))).toBeNull();
  });
});

describe('an arena past 2 GiB', () => {
  it('regions at byte offsets of 2^31 and beyond are read and written as unsigned: projections, steps and weights as on a small arena', async () => {
    const pool = await createThreadPool(2);
    try {
      // Park 2 GiB at the bottom of the pool's memory (reserved, never touched), so the engine's
      // weights, cache blocks and scratch all land past 2^31.
      const parked = pool.arena.allocate(2 ** 31);
      expect(parked).toBeGreaterThan(0);
      const shape = { heads: 4, kvHeads: 2, headDim: 8, dim: 36 };
      const options = { ...projected(shape, 11), withWeights: true, positions: 'alibi' as const };
      const high = createAttention({ ...options, threads: pool });
      const low = createAttention(options);
      const xs = tokens(40, shape.dim, 12);
      const expected = low.pushMany(xs.slice(0, 20));
      expect(high.pushMany(xs.slice(0, 20))).toEqual(expected);
      for (const x of xs.slice(20)) expect(high.push(x)).toEqual(low.push(x));
      high.dispose();
      low.dispose();
    } finally {
      await pool.close();
    }
  });
});

describe('ArenaWeights.project: mutation audit', () => {
  it('a widened 16-bit matrix taller than a chunk keeps its chunk outputs inside its own scratch: the region after it is untouched', () => {
    // A fresh arena: the scratch is laid right after the copy, and the region allocated next right after the scratch.
    const arena = sharedWasmArena();
    if (arena === null) return;
    const [rows, cols, n] = [4096, 64, WIDEN_FROM.float16];
    const data = Float32Array.from({ length: rows * cols }, (_, i) => ((i % 7) - 3) / 8);
    const copy = ArenaWeights.copyMatrices(arena, null, [{ name: 'w', data, rows, cols }], 'float16')!;
    const x = Float64Array.from({ length: n * cols }, (_, i) => Math.sin(i));
    const first = new Float32Array(n * rows);
    expect(copy.project([['w', first]], x, n)).toBe(true);
    const bytes = 1 << 20;
    const guard = arena.allocate(bytes);
    arena.views().f32.fill(7, guard >>> 2, (guard + bytes) >>> 2);
    const again = new Float32Array(n * rows);
    expect(copy.project([['w', again]], x, n)).toBe(true);
    expect(arena.views().f32.subarray(guard >>> 2, (guard + bytes) >>> 2).every((v) => v === 7)).toBe(true);
    expect(again).toEqual(first);
    copy.release();
    arena.release(guard, bytes);
  });
});
