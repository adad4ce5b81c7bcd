import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AttentionError, batchAttention, batchAttentionQKV, createAttention, createCrossAttention, pushEach, restoreAttention } from '../src/index.js';
import type { Attention, AttentionOptions, CacheEvent } from '../src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../src/cache/safetensors.js';
import type { TensorInput } from '../src/cache/safetensors.js';

// Two refusals found missing while documenting the core (docs/math.md, docs/snapshots.md): refuse
// rather than return a wrong number.

describe('refusals', () => {
  it('a float64 score that overflows a double is refused (NON_FINITE) or gives a finite output, never NaN', () => {
    // Seed mode: q = k = x = [1e200], finite, but q · k = 1e400 overflows to Infinity, and the
    // softmax of [Infinity] is Infinity − Infinity = NaN.
    const attn = createAttention({ dim: 1, precision: 'float64' });
    let output: Float32Array | Float64Array;
    try {
      output = attn.push([1e200])[0]!.output;
    } catch (e) {
      expect(e).toBeInstanceOf(AttentionError);
      expect((e as AttentionError).code).toBe('NON_FINITE');
      expect(attn.length).toBe(0);
      // Nothing changed: the engine goes on as a fresh one.
      expect(Array.from(attn.push([2])[0]!.output)).toEqual([2]);
      return;
    }
    expect(Array.from(output).every(Number.isFinite)).toBe(true);
  });

  it('a float32 score beyond float32 range on the WebAssembly kernels is computed in float64, as kernels: "js" computes it', () => {
    // q = k = x = [1e20] is a float32 number, but q · k = 1e40 is not: the SIMD kernels add in
    // float32, flag the score, and the engine runs the step in the TypeScript loops (float64 sums).
    const simd = createAttention({ dim: 1 });
    const plain = createAttention({ dim: 1, kernels: 'js' });
    expect(simd.options.kernels).toBe('wasm');
    const xs = [[3], [1e20], [2]];
    const steps = xs.map((x) => simd.push(x)[0]!);
    expect(steps).toEqual(xs.map((x) => plain.push(x)[0]!));
    expect(Array.from(steps[1]!.output)).toEqual([Math.fround(1e20)]);
    expect(simd.length).toBe(3);
    // It goes on as a fresh engine given the same tokens as one prompt.
    const fresh = createAttention({ dim: 1 });
    expect(fresh.pushMany(xs)).toEqual(steps);
    expect(simd.push([0.5])).toEqual(fresh.push([0.5]));
    // Weights that are not all on one key: scale 1e-40 makes the scores [3e-20, 1.00000004] in
    // float64, so the weights are [1, e] / (1 + e), where the float32 dot product 1e40 is +∞.
    for (const kernels of ['auto', 'js'] as const) {
      const scaled = createAttention({ dim: 1, scale: 1e-40, kernels, withWeights: true });
      scaled.push([3]);
      const [step] = scaled.push([1e20]);
      const e = Math.exp(Math.fround(1e20) ** 2 * 1e-40);
      step!.weights![0]!.forEach((w, j) => expect(Math.abs(w - [1, e][j]! / (1 + e))).toBeLessThan(1e-7));
      expect(Math.abs(step!.output[0]! - (3 + Math.fround(1e20) * e) / (1 + e)) / 1e20).toBeLessThan(1e-6);
    }
    // A scale that overflows a double is named as a cause too: no kernel sums past it.
    const scaled = createAttention({ dim: 1, scale: 1e308, precision: 'float64' });
    expect(() => scaled.push([6])).toThrow(expect.objectContaining({ code: 'NON_FINITE', message: expect.stringContaining('overflowed: scale·q·k') }));
    // In float32 a scale past 2^64 is refused at once (scores of float32 products: see the next test).
    for (const kernels of ['auto', 'js'] as const) {
      expect(() => createAttention({ dim: 1, scale: 1e308, kernels })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'scale' } }));
    }
  });

  it("a float32 scale past 2^64 is refused: the kernels' float32 products would reach scores only from float32's subnormals", () => {
    // Found by an adversarial accuracy search: scale 1e45 over inputs near 1e-23 (their products
    // subnormal or 0) gave weights [0.195, 0.012, 0.793] where the true ones are [0.267, 0.008, 0.725].
    expect(() => createAttention({ dim: 1, scale: 1e45 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'scale' }, message: "option scale must be at most 2^64 with precision 'float32' (its scores are sums of float32 products, scaled after), got 1e+45" }),
    );
    expect(createAttention({ dim: 1, scale: 2 ** 64 }).options.scale).toBe(2 ** 64);
    expect(createAttention({ dim: 1, scale: 1e45, precision: 'float64' }).options.scale).toBe(1e45);
  });

  it("values near float32's largest, whose float32 block sums overflow in the WebAssembly kernels, still give the finite mean", () => {
    // Found by a bug hunt: 35 values of 1e37 summed to Infinity in a block's float32 sum, and the
    // step returned Infinity. The step now runs in the TypeScript loops, which add in float64.
    const identity = (s: number) => Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? s : 0));
    const options = { dim: 4, precision: 'float32' as const, weights: { wq: identity(0), wk: identity(0), wv: identity(1e37) } };
    const xs = Array.from({ length: 100 }, () => [1, 1, 1, 1]);
    const expected = batchAttention(xs, options).map((step) => Array.from(step.output));
    const attn = createAttention(options);
    expect(attn.options.kernels).toBe('wasm');
    const pushed = xs.map((x) => Array.from(attn.push(x)[0]!.output));
    const prompt = createAttention(options).pushMany(xs).map((step) => Array.from(step.output));
    expect(prompt).toEqual(pushed);
    pushed.forEach((row, t) => row.forEach((v, c) => expect(Math.abs(v - expected[t]![c]!) / 1e37, `token ${t}`).toBeLessThan(1e-6)));
  });

  it('restore refuses a snapshot whose emitted is below length − lookahead', () => {
    // No engine writes such a file: after any push emitted ≥ length − lookahead. Accepted, it makes
    // the restored engine emit outputs for tokens 1 and 2 again, computed with token 3's query.
    const attn = createAttention({ dim: 2, precision: 'float64' });
    attn.pushMany([[1, 0], [0, 1], [1, 1]]);
    const { tensors, metadata } = decodeSafetensors(attn.snapshot());
    const edited = encodeSafetensors(Object.fromEntries(tensors) as Record<string, TensorInput>, { ...metadata, emitted: '1' });
    expect(() => restoreAttention(edited)).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT' }));
  });

  it('a score that overflows names its head in float64; in float32 the WebAssembly kernels compute it as kernels: "js" does', () => {
    // Found by a mutation test: the TypeScript path naming head 0 for any head passed every test.
    // Seed mode, scale 1: head 0 scores 1·1, head 1 scores x[1]² alone.
    const attn = createAttention({ dim: 2, heads: 2, scale: 1, precision: 'float64' });
    expect(() => attn.push([1, 1e200])).toThrow(expect.objectContaining({ code: 'NON_FINITE', message: expect.stringContaining('score of token 0, head 1 overflowed') }));
    expect(attn.length).toBe(0);
    // In float32, head 1's float32 dot product 1e40 overflows on the WebAssembly kernels only: the
    // step runs in float64 there, so it is kernels: 'js''s, head 1's weights included.
    const xs = [[1, 3], [1, 1e20], [2, 1]];
    const simd = createAttention({ dim: 2, heads: 2, scale: 1, withWeights: true });
    const plain = createAttention({ dim: 2, heads: 2, scale: 1, withWeights: true, kernels: 'js' });
    expect(simd.options.kernels).toBe('wasm');
    const steps = xs.map((x) => simd.push(x)[0]!);
    expect(steps).toEqual(xs.map((x) => plain.push(x)[0]!));
    expect(Array.from(steps[1]!.weights![1]!)).toEqual([0, 1]);
  });

  it('restore refuses a held block with a position missing: a gap read as a zero token, or one position per huge block', () => {
    // The writer saves held blocks whole. A file with gaps was accepted: a missing row became a
    // token of zeros that later steps attended, and a few kilobytes could allocate gigabytes.
    const attn = createAttention({ dim: 2, window: 4, blockSize: 4, precision: 'float64' });
    attn.pushMany(Array.from({ length: 8 }, (_, i) => [Math.sin(i), Math.cos(i)]));
    const { tensors, metadata } = decodeSafetensors(attn.snapshot());
    expect(Array.from(tensors.get('positions')!.data)).toEqual([4, 5, 6, 7]);
    const without4 = Object.fromEntries(
      [...tensors].map(([name, t]) => [name, { dtype: t.dtype, shape: [3, ...t.shape.slice(1)], data: t.data.slice(t.data.length / 4) }]),
    ) as Record<string, TensorInput>;
    expect(() => restoreAttention(encodeSafetensors(without4, metadata))).toThrow(
      expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: expect.stringContaining('block 1 holds 3 of its 4 positions') }),
    );
    // Without the block at all, the window's reach is what is missing.
    const withoutBlock = Object.fromEntries(
      [...tensors].map(([name, t]) => [name, { dtype: t.dtype, shape: [0, ...t.shape.slice(1)], data: t.data.slice(0, 0) }]),
    ) as Record<string, TensorInput>;
    expect(() => restoreAttention(encodeSafetensors(withoutBlock, metadata))).toThrow(
      expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: expect.stringContaining('position 5 is needed but missing') }),
    );
    // A file without the sinks, or without keys the look-ahead queries still need (found by a
    // mutation test: dropping either check passed every test, and the forged file then threw a
    // TypeError at the next push or flush).
    const dropped = (engine: Attention, gone: (p: number) => boolean): Uint8Array => {
      const file = decodeSafetensors(engine.snapshot());
      const positions = Array.from(file.tensors.get('positions')!.data);
      const kept = positions.map((p) => !gone(p));
      const rows = Object.fromEntries(
        [...file.tensors].map(([name, t]) => {
          const width = t.data.length / positions.length;
          const data = t.data.filter((_, i) => kept[Math.floor(i / width)]!);
          return [name, { dtype: t.dtype, shape: [kept.filter(Boolean).length, ...t.shape.slice(1)], data }];
        }),
      ) as Record<string, TensorInput>;
      return encodeSafetensors(rows, file.metadata);
    };
    const tokens = Array.from({ length: 12 }, (_, i) => [Math.sin(i), Math.cos(i)]);
    const withSinks = createAttention({ dim: 2, window: 4, sinks: 4, blockSize: 4, precision: 'float64' });
    withSinks.pushMany(tokens);
    expect(() => restoreAttention(dropped(withSinks, (p) => p < 4))).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: expect.stringContaining('sink position 0 is missing') }));
    const waiting = createAttention({ dim: 2, window: 4, lookahead: 4, blockSize: 4, precision: 'float64' });
    waiting.pushMany(tokens);
    expect(() => restoreAttention(dropped(waiting, (p) => p >= 4 && p < 8))).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: expect.stringContaining('position 5 is needed but missing') }));
    const blockSize = 65536;
    const scattered = {
      positions: { dtype: 'I32', shape: [3], data: Int32Array.from([0, blockSize, 2 * blockSize]) },
      keys: { dtype: 'F32', shape: [3, 1, 1], data: new Float32Array(3) },
      values: { dtype: 'F32', shape: [3, 1, 1], data: new Float32Array(3) },
    } satisfies Record<string, TensorInput>;
    const wide = createAttention({ dim: 1, window: 1, blockSize });
    const { metadata: m } = decodeSafetensors(wide.snapshot());
    expect(() => restoreAttention(encodeSafetensors(scattered, { ...m, length: String(3 * blockSize), emitted: String(3 * blockSize) }))).toThrow(
      expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: expect.stringContaining('block 0 holds 1 of its 65536 positions') }),
    );
  });

  it('pushMany with a score that overflows part-way takes the whole prompt back out', () => {
    const attn = createAttention({ dim: 1, precision: 'float64' });
    attn.push([0.5]);
    expect(() => attn.pushMany([[1], [2], [1e200]])).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ token: 3 }) }));
    expect(attn.length).toBe(1);
    const fresh = createAttention({ dim: 1, precision: 'float64' });
    fresh.push([0.5]);
    expect(attn.push([3])).toEqual(fresh.push([3]));
  });

  it('and so it does whatever the window, sinks, look-ahead and blocks: no event sent, no output lost, every later step as if it never came', () => {
    fc.assert(
      fc.property(
        fc.record({
          window: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
          sinks: fc.integer({ min: 0, max: 2 }),
          lookahead: fc.integer({ min: 0, max: 2 }),
          blockSize: fc.constantFrom(1, 2, 3, 64),
          before: fc.integer({ min: 0, max: 12 }),
          prompt: fc.integer({ min: 1, max: 12 }),
          bad: fc.nat(),
        }),
        (c) => {
          const options: AttentionOptions = {
            dim: 1,
            precision: 'float64',
            blockSize: c.blockSize,
            lookahead: c.lookahead,
            ...(c.window === undefined ? {} : { window: c.window, sinks: c.sinks }),
          };
          const token = (t: number) => [Math.sin(t)];
          const attn = createAttention(options);
          const fresh = createAttention(options);
          for (let t = 0; t < c.before; t++) expect(attn.push(token(t))).toEqual(fresh.push(token(t)));
          const events: CacheEvent[] = [];
          attn.addCacheListener((event) => events.push(event));
          const memory = attn.stats();
          // q · k = 1e400 overflows a double when the bad token's own query is answered, which
          // look-ahead L delays until the token L later: put it where that happens inside the prompt.
          const prompt = Array.from({ length: c.prompt + c.lookahead }, (_, i) => token(c.before + i));
          prompt[c.bad % c.prompt] = [1e200];
          expect(() => attn.pushMany(prompt)).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
          expect(events).toEqual([]);
          expect(attn.length).toBe(c.before);
          expect(attn.stats()).toEqual(memory);
          const more = Array.from({ length: 8 }, (_, i) => token(100 + i));
          expect([...attn.pushMany(more), ...attn.flush()]).toEqual([...fresh.pushMany(more), ...fresh.flush()]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('an int8 cache takes a refused token back bit for bit, keys the token quantized by filling its block included, windows too', () => {
    // Filling a block quantizes its keys, and int8 keys cannot give the floats back: taking the
    // token back once left the block quantized, and every later step read approximate keys.
    fc.assert(
      fc.property(
        fc.record({
          precision: fc.constantFrom('float32' as const, 'float64' as const),
          blockSize: fc.constantFrom(1, 2, 3, 4),
          before: fc.integer({ min: 0, max: 10 }),
          path: fc.constantFrom('push' as const, 'pushMany' as const, 'pushEach' as const),
          lookahead: fc.integer({ min: 0, max: 1 }),
          prompt: fc.integer({ min: 1, max: 6 }),
          bad: fc.nat(),
          // A window releases blocks, kept as spares in their int8 form, which a call takes to write.
          window: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
        }),
        (c) => {
          // float64: a score beyond a double. float32: an output beyond float32 through wo, since
          // the WebAssembly kernels score a quantized block's keys in exact integers, where no
          // float32 input overflows (and a filled block is what this is about).
          const huge = c.precision === 'float64' ? 1e200 : 1e10;
          const lookahead = c.path === 'pushMany' ? c.lookahead : 0;
          const identity = [1, 0, 0, 1];
          const amplified = c.precision === 'float32' ? { weights: { wq: identity, wk: identity, wv: identity, wo: [1e30, 0, 0, 1e30] } } : {};
          const options: AttentionOptions = { dim: 2, precision: c.precision, cacheDtype: 'int8', blockSize: c.blockSize, lookahead, ...(c.window === undefined ? {} : { window: c.window }), ...amplified };
          const token = (t: number) => [Math.sin(t), Math.cos(3 * t)];
          const attn = createAttention(options);
          const twin = createAttention(options);
          for (let t = 0; t < c.before; t++) {
            attn.push(token(t));
            twin.push(token(t));
          }
          const forks = [attn.fork(), twin.fork()] as const;
          const before = attn.snapshot();
          const memory = [attn.stats(), forks[0].stats()];
          const refused = () => {
            if (c.path === 'push') return attn.push([huge, 0]);
            if (c.path === 'pushEach') return pushEach([forks[0], attn], [token(50), [huge, 0]]);
            const prompt = Array.from({ length: c.prompt + lookahead }, (_, i) => token(c.before + i));
            prompt[c.bad % c.prompt] = [huge, 0];
            return attn.pushMany(prompt);
          };
          expect(refused).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
          expect(attn.snapshot()).toEqual(before);
          expect(forks[0].snapshot()).toEqual(forks[1].snapshot());
          // Memory too: no spare block kept, a spare taken has its int8 form again, and a block copied from the fork to write is shared again.
          expect([attn.stats(), forks[0].stats()]).toEqual(memory);
          const more = Array.from({ length: 2 * c.blockSize + 1 }, (_, i) => token(100 + i));
          expect([...attn.pushMany(more), ...attn.flush()]).toEqual([...twin.pushMany(more), ...twin.flush()]);
          expect(attn.snapshot()).toEqual(twin.snapshot());
        },
      ),
      { numRuns: 150 },
    );
  });

  it("with look-ahead the push that completes an overflowing query is refused, naming the query's token; truncate to it goes on", () => {
    const attn = createAttention({ dim: 1, lookahead: 1, precision: 'float64' });
    attn.pushMany([[1], [1e200]]); // token 1's own score, 1e400, waits for token 2
    for (let k = 0; k < 2; k++) {
      expect(() => attn.push([1])).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: { field: 'score', token: 1 } }));
      expect(attn.length).toBe(2);
    }
    attn.truncate(1);
    const fresh = createAttention({ dim: 1, lookahead: 1, precision: 'float64' });
    fresh.push([1]);
    expect(attn.push([2])).toEqual(fresh.push([2]));
  });

  it('a refused pushEach leaves every fork as it was when forks of different lengths share a block', () => {
    // Found in review: the fork written second wrote into the block the first had copied from,
    // and taking the first back restored that block with the other's refused row in it.
    // float64: a score past a double (1e200², refused as c's step is attended). float32, whose
    // scores no longer overflow: an output past float32's largest in wo (1e10 · 1e30), refused
    // after both engines wrote their rows and attended, on both kernel paths.
    const amplified = { weights: { wq: [1], wk: [1], wv: [1], wo: [1e30] } };
    for (const [options, huge, field] of [
      [{ precision: 'float64' }, 1e200, 'score'],
      [{ precision: 'float32', ...amplified }, 1e10, 'output'],
      [{ precision: 'float32', kernels: 'js', ...amplified }, 1e10, 'output'],
    ] as const) {
      const a = createAttention({ dim: 1, blockSize: 4, ...options });
      a.pushMany([[1], [2], [3]]);
      const c = a.fork();
      c.truncate(2);
      const twin = createAttention({ dim: 1, blockSize: 4, ...options });
      twin.pushMany([[1], [2], [3]]);
      const before = [a.snapshot(), c.snapshot(), a.stats(), c.stats()];
      expect(() => pushEach([a, c], [[0.5], [huge]])).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field, engine: 1 }) }));
      expect([a.snapshot(), c.snapshot(), a.stats(), c.stats()]).toEqual(before);
      expect(a.push([0.25])).toEqual(twin.push([0.25]));
    }
  });

  it('a listener that pushes into another engine of a pushEach meets that engine finished: its refusal takes back only its own token', () => {
    // Found in review: the listener ran while the other engine's call was still held, and its
    // refused push restored what the pushEach had left (a stale block, or none: a TypeError).
    for (const options of [{ dim: 1, precision: 'float64', blockSize: 4 }, { dim: 1, precision: 'float64', blockSize: 2, cacheDtype: 'int8' }] as const) {
      const a = createAttention(options);
      a.push([1]);
      const b = a.fork();
      const kept = a.fork();
      const twin = createAttention(options);
      twin.pushMany([[1], [2]]);
      let refused: unknown = null;
      const off = a.addCacheListener((event) => {
        if (event.type !== 'append') return;
        off();
        try {
          b.push([1e200]);
        } catch (e) {
          refused = e;
        }
      });
      pushEach([a, b], [[3], [2]]);
      expect(refused).toMatchObject({ code: 'NON_FINITE' });
      expect(b.length).toBe(2);
      expect(b.push([0.5])).toEqual(twin.push([0.5]));
      expect(kept.length).toBe(1);
    }
  });

  it('a push refused after a truncate into a quantized int8 block leaves its int8 keys as they were', () => {
    // Found in review: writing dequantized the block's keys, and taking the push back left them so.
    // Refusals after the row was written: in float64 a score past a double (q = 1e290·1e10 against
    // k = 1e10; a key entry past 4.3e40, as x = [1e200, 0] in seed mode, is refused before, as past
    // its int8 scale's range). In float32, whose scores no longer overflow: an output past float32's
    // largest in wo (1e10 · 1e30), on both kernel paths.
    const eye = [1, 0, 0, 1];
    const amplified = { weights: { wq: eye, wk: eye, wv: eye, wo: [1e30, 0, 0, 1e30] } };
    for (const [more, huge, field] of [
      [{ precision: 'float64', weights: { wq: [1e290, 0, 0, 1e290], wk: eye, wv: eye } }, 1e10, 'score'],
      [{ precision: 'float32', ...amplified }, 1e10, 'output'],
      [{ precision: 'float32', kernels: 'js', ...amplified }, 1e10, 'output'],
    ] as const) {
      const options: AttentionOptions = { dim: 2, cacheDtype: 'int8', blockSize: 4, ...more };
      const attn = createAttention(options);
      attn.pushMany([[1, 0], [0, 1], [0.5, 0.5], [0.2, -0.3]]);
      attn.truncate(2);
      const before = [attn.snapshot(), attn.stats()];
      expect(() => attn.push([huge, 0])).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field, token: 2 }) }));
      expect([attn.snapshot(), attn.stats()]).toEqual(before);
    }
  });

  it('a push refused where a window had released the block it writes into leaves no block behind', () => {
    // Found by a fuzzer: truncate(1) keeps a window-1 stream's length mid-block with the block gone;
    // the refused push made the block afresh, and taking it back kept it.
    const options: AttentionOptions = { dim: 2, precision: 'float64', blockSize: 2, window: 1 };
    const attn = createAttention(options);
    attn.pushMany([[1, 0], [0, 1], [1, 1]]);
    attn.truncate(1);
    const before = [attn.snapshot(), attn.stats()];
    expect(() => attn.push([1e200, 1e200])).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
    expect([attn.snapshot(), attn.stats()]).toEqual(before);
  });

  it("a block made again after a truncate into one a window released holds zeros before the truncate, not a spare's old rows", () => {
    // Found by a fuzzer: under window 1 a truncate into a released block is allowed (no key before
    // it is needed); the block made for the next push reused a spare, whose rows (a refused key,
    // here) entered its snapshot and, in an int8 block, the keys' per-channel scales.
    const x = (s: number) => Array.from({ length: 4 }, (_, i) => Math.round(Math.sin(s * 3.7 + i) * 8) / 4);
    const w = (n: number, s: number) => Array.from({ length: n }, (_, i) => Math.round(Math.sin(s * 7.1 + i * 1.3) * 64) / 64);
    for (const cacheDtype of ['float64', 'int8'] as const) {
      const options: AttentionOptions = { dim: 4, heads: 4, precision: 'float64', blockSize: 3, cacheDtype, window: 1, sinks: 2, weights: { wq: w(16, 1), wk: w(16, 2), wv: w(16, 3) } };
      const run = (refuse: boolean) => {
        const attn = createAttention(options);
        attn.pushMany(Array.from({ length: 8 }, (_, i) => x(i)));
        attn.truncate(5);
        if (refuse) expect(() => attn.pushMany([x(20), [1e200, 1e200, 1e200, 1e200], x(21)])).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
        return [attn.push(x(22)), attn.snapshot()];
      };
      expect(run(true)).toEqual(run(false));
    }
  });

  it('an output that overflows in wo is refused (NON_FINITE, field output) and taken back, on every path', () => {
    // Found by a fuzzer: wo · head outputs past float32's largest came back as Infinity.
    // Queries of zero keep every score 0; the values, 3e38 each, sum past float32's largest in wo.
    const weights = { wq: [0, 0, 0, 0], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1], wo: [2, 2, 2, 2] };
    for (const kernels of ['auto', 'js'] as const) {
      const options: AttentionOptions = { dim: 2, kernels, weights };
      const attn = createAttention(options);
      attn.push([1, 2]);
      const fork = attn.fork();
      const before = [attn.snapshot(), attn.stats()];
      const huge = [3e38, 3e38];
      const output = expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'output', token: 1 }) });
      expect(() => attn.push(huge)).toThrow(output);
      expect(() => attn.pushMany([[1, 1], huge])).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'output', token: 2 }) }));
      expect(() => pushEach([attn, fork], [[1, 1], huge])).toThrow(output);
      expect([attn.snapshot(), attn.stats(), fork.length]).toEqual([...before, 1]);
      const caller = createAttention({ dim: 2, kernels, weights: { wo: [2, 2, 2, 2] } });
      expect(() => caller.pushQKV([0, 0], [0, 0], huge)).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'output' }) }));
      expect(caller.length).toBe(0);
      const cross = createCrossAttention({ dim: 2, kernels, weights });
      cross.setMemory([huge]);
      expect(() => cross.attend([1, 1])).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'output' }) }));
    }
  });

  it('a float64 output without wo that overflows (values at the largest double, weights rounding to a sum past 1) is refused and taken back, on every path', () => {
    // Found by a numerics audit: eleven weights of 1/11 round to a sum of 1 + 2⁻⁵², and Σ α·v passed
    // the largest double; only wo's product was checked, so the step's output was Infinity.
    const big = [Number.MAX_VALUE];
    const options: AttentionOptions = { dim: 1, precision: 'float64', weights: { wq: [0], wk: [0], wv: [1] } };
    const output = (token: number) => expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'output', token }) });
    const attn = createAttention(options);
    for (let i = 0; i < 10; i++) expect(Number.isFinite(attn.push(big)[0]!.output[0])).toBe(true);
    const fork = attn.fork();
    const before = [attn.snapshot(), attn.stats()];
    expect(() => attn.push(big)).toThrow(output(10));
    expect(() => attn.pushMany([big])).toThrow(output(10));
    expect(() => pushEach([attn, fork], [big, big])).toThrow(output(10));
    expect([attn.snapshot(), attn.stats(), fork.length]).toEqual([...before, 10]);
    expect(() => createAttention(options).pushMany(Array.from({ length: 11 }, () => big))).toThrow(output(10));
    expect(() => batchAttention(Array.from({ length: 11 }, () => big), options)).toThrow(output(10));
    const caller = createAttention({ dim: 1, precision: 'float64' });
    for (let i = 0; i < 10; i++) caller.pushQKV([0], [0], big);
    expect(() => caller.pushQKV([0], [0], big)).toThrow(output(10));
    expect(caller.length).toBe(10);
    // Without wo the output is heads·headDim wide, here wider than dim: every element is checked
    // (a review found the batch twins checking only dim of them).
    const wide: AttentionOptions = { dim: 1, heads: 1, headDim: 2, precision: 'float64', weights: {} };
    const rows = (row: number[]) => Array.from({ length: 11 }, () => row);
    const element1 = expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'output', token: 10, element: 1 }) });
    expect(() => batchAttentionQKV(rows([0, 0]), rows([0, 0]), rows([0, Number.MAX_VALUE]), wide)).toThrow(element1);
    expect(() => createAttention(wide).pushManyQKV(rows([0, 0]), rows([0, 0]), rows([0, Number.MAX_VALUE]))).toThrow(element1);
    expect(() => batchAttention(rows([1]), { ...wide, weights: { wq: [0, 0], wk: [0, 0], wv: [0, Number.MAX_VALUE] } })).toThrow(element1);
    const cross = createCrossAttention({ dim: 1, precision: 'float64' });
    cross.setMemory(Array.from({ length: 11 }, () => big));
    expect(() => cross.attendMany([[0], [0]])).toThrow(output(0));
    cross.setMemory([big]);
    expect(cross.attend([0]).index).toBe(0);
  });

  it('a key that RoPE rotates past the largest number is refused, not cached as Infinity (which made the snapshot unreadable)', () => {
    // Found by the rollback fuzzer: a rotated pair grows by up to √2, and a capped score (or a −∞
    // one, under look-ahead) let the push through with an infinite key in the cache.
    const cases: [AttentionOptions, number[][], number[]][] = [
      [{ dim: 2, precision: 'float64', positions: 'rope', scoreCap: 5 }, [[1, 1]], [1.7e308, 1.7e308]],
      [{ dim: 2, positions: 'rope', lookahead: 1, blockSize: 2 }, [[1, -1]], [3e38, 3e38]],
      [{ dim: 2, positions: 'rope', lookahead: 1, blockSize: 2, cacheDtype: 'int8' }, [[1, -1]], [3e38, 3e38]],
      [{ dim: 2, positions: 'rope', kernels: 'js', scoreCap: 5 }, [[1, -1]], [3e38, 3e38]],
    ];
    for (const [options, before, huge] of cases) {
      const attn = createAttention(options);
      before.forEach((x) => attn.push(x));
      const saved = attn.snapshot();
      expect(() => attn.push(huge), JSON.stringify(options)).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'rotated key', token: 1 }) }));
      expect(attn.snapshot()).toEqual(saved);
      const twin = restoreAttention(attn.snapshot());
      expect(attn.push([0.5, 0.25])).toEqual(twin.push([0.5, 0.25]));
      // The batch twin refuses what the engine refuses (found by a review).
      expect(() => batchAttention([...before, huge], options)).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'rotated key', token: 1 }) }));
    }
    // A query RoPE rotates past float32's range is taken on every kernel (found by a review: the
    // WebAssembly kernels' float32 copy of it was Infinity, and the step refused): such a step runs
    // in TypeScript, within float32 of kernels 'js'. Under look-ahead it would have stuck the stream.
    for (const lookahead of [0, 1]) {
      const run = (kernels: 'auto' | 'js') => {
        const attn = createAttention({ dim: 2, heads: 1, positions: 'rope', kernels, lookahead, weights: {} });
        return [attn.pushQKV([1, 1], [1, 1], [1, 1]), attn.pushQKV([3e38, 3e38], [1e-3, 1e-3], [1, 1]), attn.pushQKV([1, 1], [1, 1], [1, 1]), attn.flush()].flat();
      };
      const [wasm, js] = [run('auto'), run('js')];
      expect(wasm.map((s) => s.index)).toEqual(js.map((s) => s.index));
      wasm.forEach((s, n) => s.output.forEach((v, r) => expect(Math.abs(v - js[n]!.output[r]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(v)))));
    }
  });

  it("under RoPE 'cache' positions the batch twin turns the same angles as the engine, so they agree on what overflows", () => {
    // Found by a fuzzer: the twin turned a window key and the query by their ranks, the engine by
    // their stream indices (the same relative angle), so near a double's largest one overflowed.
    const base = { dim: 2, precision: 'float64', positions: 'rope', ropePositions: 'cache', window: 2 } as const;
    const q = [1.797e308 * (1.001 * Math.cos(2)), 1.797e308 * (-1.001 * Math.sin(2))];
    const cases: [AttentionOptions, number[][]][] = [
      [{ ...base, weights: { wq: [1e-309, 0, 0, 1e-309], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } }, [[1, 0], [0, 1], [1.31e308, 1.31e308]]],
      [{ ...base, weights: { wq: [1, 0, 0, 1], wk: [1e-309, 0, 0, 1e-309], wv: [1, 0, 0, 1] } }, [[1, 0], [0, 1], q]],
    ];
    for (const [options, xs] of cases) {
      const attempt = (run: () => unknown) => {
        try {
          return JSON.stringify(run());
        } catch (e) {
          return (e as AttentionError).code;
        }
      };
      const engine = createAttention(options);
      const pushed = attempt(() => [...engine.pushMany(xs), ...engine.flush()].map((s) => Array.from(s.output)));
      expect(attempt(() => batchAttention(xs, options).map((s) => Array.from(s.output)))).toBe(pushed);
    }
  });

  it('a flush refused for a score overflow changes nothing: the outputs before the overflowing one still wait', () => {
    const attn = createAttention({ dim: 2, lookahead: 2, precision: 'float64' });
    attn.pushMany([[0.1, 0.2], [0.3, 0.1], [1e200, 0]]);
    const before = attn.snapshot();
    // Token 1 is answered first; token 2's own score, 1e400, then overflows.
    expect(() => attn.flush()).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ token: 2 }) }));
    expect(attn.snapshot()).toEqual(before);
    attn.truncate(2);
    expect(attn.flush().map((step) => step.index)).toEqual([0, 1]);
  });
});
