import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAttention, restoreAttention } from '../src/index.js';
import type { AttentionOptions, AttentionStep } from '../src/index.js';
import { PagedKVCache } from '../src/cache/paged-kv-cache.js';
import { decodeSafetensors } from '../src/cache/safetensors.js';
import { edited } from './support/edited-snapshot.js';
import { configArbitrary, tokensArbitrary } from './support/engine-arbitraries.js';
import { refusal } from './support/refusal.js';
import { sameBits } from './support/same-bits.js';

// An int8 block quantizes its keys once it fills, on scales over the keys it holds. A truncate into
// it used to leave its kept keys dequantized, and refilled it was quantized again on other scales
// than a fresh engine's (its old ones as a floor): a speculative draft rolled back across a block's
// end gave slightly other outputs than never drafting. With retain R (and look-ahead L) a filled
// block keeps the float keys it was quantized from while a truncate of up to R + L tokens may reach
// into it, so those truncates leave the outputs bit for bit those of an engine that never went on.

/** One step of a run: push a token, roll back `back` tokens (within reach of the longest length), or go on in a fork or a restored snapshot. */
type Op = { kind: 'push'; token: number[] } | { kind: 'truncate'; back: number } | { kind: 'fork' } | { kind: 'restore' };

function expectSameSteps(actual: AttentionStep[], expected: AttentionStep[], where: string): void {
  expect(actual.length, where).toBe(expected.length);
  actual.forEach((step, i) => {
    expect(step.index, where).toBe(expected[i]!.index);
    expect(sameBits(step.output, expected[i]!.output), `${where}: output of token ${step.index}`).toBe(true);
    expect(step.positions, where).toEqual(expected[i]!.positions);
    step.weights!.forEach((w, h) => expect(sameBits(w, expected[i]!.weights![h]!), `${where}: head ${h}'s weights of token ${step.index}`).toBe(true));
  });
}

const int8Config = fc
  .tuple(
    fc.constantFrom<'float32' | 'float64'>('float32', 'float64'),
    fc.integer({ min: 1, max: 9 }),
    fc.boolean(),
  )
  .chain(([precision, retain, windowed]) =>
    configArbitrary({ precision, sinkLogits: false }).map(
      (o): AttentionOptions => ({
        ...o,
        cacheDtype: 'int8',
        retain,
        // Without a window, retain is the int8 cache's alone; with one, it keeps the tokens too.
        ...(windowed && o.window !== undefined ? {} : { window: undefined, sinks: undefined }),
      }),
    ),
  );

function opsArbitrary(dim: number): fc.Arbitrary<Op[]> {
  const token = tokensArbitrary(dim, 1, 1).map(([x]) => x!);
  return fc.array(
    fc.oneof(
      { weight: 12, arbitrary: token.map((t): Op => ({ kind: 'push', token: t })) },
      { weight: 3, arbitrary: fc.nat(20).map((back): Op => ({ kind: 'truncate', back })) },
      { weight: 1, arbitrary: fc.constant<Op>({ kind: 'fork' }) },
      { weight: 1, arbitrary: fc.constant<Op>({ kind: 'restore' }) },
    ),
    { minLength: 1, maxLength: 60 },
  );
}

describe('int8 caches with retain: truncates within retain + lookahead', () => {
  it('leave every later output bit for bit that of a fresh engine fed the tokens kept (forks and snapshots on the way, windows or none)', () => {
    fc.assert(
      fc.property(
        int8Config.chain((o) => fc.tuple(fc.constant(o), opsArbitrary(o.dim))),
        ([o, ops]) => {
          const reach = o.retain! + (o.lookahead ?? 0);
          let engine = createAttention(o);
          // The engine that never went further: made afresh from the tokens kept at each truncate.
          let fresh = createAttention(o);
          const kept: number[][] = [];
          let longest = 0;
          try {
            ops.forEach((op, i) => {
              if (op.kind === 'push') {
                kept.push(op.token);
                longest = Math.max(longest, kept.length);
                expectSameSteps(engine.push(op.token), fresh.push(op.token), `op ${i}`);
              } else if (op.kind === 'truncate') {
                // k counts from the longest the stream was (docs/guides/long-streams.md).
                const n = Math.max(0, kept.length - op.back, longest - reach);
                if (n > kept.length) return;
                engine.truncate(n);
                kept.length = n;
                fresh.dispose();
                fresh = createAttention(o);
                if (n > 0) fresh.pushMany(kept);
              } else {
                const next = op.kind === 'fork' ? engine.fork() : restoreAttention(engine.snapshot(), { kernels: o.kernels! });
                engine.dispose();
                engine = next;
              }
            });
            expectSameSteps(engine.flush(), fresh.flush(), 'flush');
          } finally {
            engine.dispose();
            fresh.dispose();
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keep the float keys of at most the blocks such a truncate can write into: memory stays bounded', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 2 }), (blockSize, retain, lookahead) => {
        const o = { dim: 2, precision: 'float64', cacheDtype: 'int8', blockSize, retain, lookahead } as const;
        const [engine, bare] = [createAttention(o), createAttention({ ...o, retain: 0, lookahead: 0 })];
        // A block of float64 keys (one head of 2), and the queries look-ahead keeps in each block.
        const floatBlockBytes = blockSize * 2 * 8;
        const reach = retain + lookahead;
        for (let t = 0; t < 200; t++) {
          const x = [Math.sin(t), Math.cos(3 * t)];
          engine.push(x);
          bare.push(x);
          // The float keys kept: those of each full block holding a position from length − reach
          // to length − 1 (a block ending exactly at length − reach is out of reach).
          const full = Math.floor(engine.length / blockSize);
          const reachable = reach === 0 ? 0 : full - Math.max(0, Math.floor((engine.length - reach) / blockSize));
          const queries = lookahead > 0 ? engine.stats().blocks * floatBlockBytes : 0;
          expect(engine.stats().bytes - bare.stats().bytes - queries, `length ${engine.length}`).toBe(reachable * floatBlockBytes);
        }
        engine.dispose();
        bare.dispose();
      }),
      { numRuns: 60 },
    );
  });
});

describe('without retain, or past it', () => {
  it('a truncate into a quantized block rounds the kept keys anew: other outputs than a fresh engine, within the bound', () => {
    // The block's largest keys go; a fresh engine's block scales on the rest, smaller.
    const o = { dim: 2, precision: 'float64', cacheDtype: 'int8', blockSize: 4 } as const;
    const tokens = [[0.3, -0.2], [0.1, 0.25], [4, -4], [-4, 4], [0.5, 0.5]];
    for (const retain of [0, 1]) {
      const engine = createAttention({ ...o, ...(retain > 0 ? { retain } : {}) });
      engine.pushMany(tokens);
      engine.truncate(2); // 3 back: past retain 1, as past none
      const fresh = createAttention(o);
      fresh.pushMany(tokens.slice(0, 2));
      const [a, b] = [engine.push([0.2, 0.1])[0]!.output, fresh.push([0.2, 0.1])[0]!.output];
      expect(sameBits(a, b), `retain ${retain}`).toBe(false);
      expect(Math.abs(a[0]! - b[0]!)).toBeLessThan(0.01);
    }
    // With retain 3 the same truncate is exact.
    const engine = createAttention({ ...o, retain: 3 });
    engine.pushMany(tokens);
    engine.truncate(2);
    const fresh = createAttention(o);
    fresh.pushMany(tokens.slice(0, 2));
    expect(sameBits(engine.push([0.2, 0.1])[0]!.output, fresh.push([0.2, 0.1])[0]!.output)).toBe(true);
  });

  it('retain without a window is refused for a float cache, which keeps every token and truncates exactly anyway', () => {
    expect(refusal(() => createAttention({ dim: 2, retain: 2 }))).toMatchObject({ code: 'INVALID_OPTION', details: { field: 'retain' } });
    expect(() => createAttention({ dim: 2, retain: 2, cacheDtype: 'int8' }).dispose()).not.toThrow();
  });
});

describe('the float keys a cache keeps', () => {
  const layout = { kvHeads: 1, headDim: 2, queryWidth: 0, blockSize: 4, Float: Float64Array, int8: true, exactReach: 20 } as const;
  const row = (t: number) => Float64Array.of(Math.sin(t), Math.cos(t));
  const filled = (tokens: number) => {
    const cache = new PagedKVCache(layout);
    for (let t = 0; t < tokens; t++) cache.append(row(t), row(t), null);
    return cache;
  };
  const kept = (cache: PagedKVCache) => [0, 1, 2, 3].filter((b) => cache.exactKeysOf(b) !== undefined);

  it('are those of the quantized blocks only: a truncate drops the ones past it and puts back the one it cuts into', () => {
    const cache = filled(12);
    expect(kept(cache)).toEqual([0, 1, 2]);
    cache.truncate(6);
    // Block 1 holds its float keys again; block 2 is gone.
    expect(kept(cache)).toEqual([0]);
    expect(cache.blockAt(4)!.keys).not.toBeNull();
    cache.truncate(4);
    expect(kept(cache)).toEqual([0]);
    cache.truncate(0);
    expect(kept(cache)).toEqual([]);
  });

  it('are dropped with the blocks a window releases, and not kept for a call taken back', () => {
    const cache = filled(12);
    cache.releaseBetween(0, 8);
    expect(kept(cache)).toEqual([2]);
    cache.truncate(10);
    cache.hold();
    // Block 2 fills, block 3 begins.
    for (let t = 10; t < 14; t++) cache.append(row(t), row(t), null);
    expect(kept(cache)).toEqual([2]);
    cache.takeBack();
    expect(kept(cache)).toEqual([]);
  });

  it('within a long call, are forgotten for the blocks the call filled as it moves past them, and kept for those before it', () => {
    // A prompt of 30 tokens from 6 (reach 5): the blocks it fills go as it passes; block 0 stays
    // for a takeBack to 6, which reaches it.
    const cache = new PagedKVCache({ ...layout, exactReach: 5 });
    for (let t = 0; t < 6; t++) cache.append(row(t), row(t), null);
    expect(kept(cache)).toEqual([0]);
    cache.hold();
    const most: number[] = [];
    for (let t = 6; t < 36; t++) {
      cache.append(row(t), row(t), null);
      most.push(Array.from({ length: 9 }, (_, b) => b).filter((b) => cache.exactKeysOf(b) !== undefined && b > 0).length);
    }
    expect(Math.max(...most)).toBeLessThanOrEqual(2);
    expect(cache.exactKeysOf(0)).toBeDefined();
    cache.takeBack();
    expect(kept(cache)).toEqual([0]);
  });
});

describe('a call refused part-way (takeBack)', () => {
  it('leaves the float keys the cache kept: the call filled a block, and a truncate after it is still exact', () => {
    const layout = { kvHeads: 1, headDim: 2, queryWidth: 0, blockSize: 4, Float: Float64Array, int8: true, exactReach: 3 } as const;
    const rows = [[0.3, -0.2], [0.1, 0.25], [4, -4], [-4, 4], [0.5, 0.5], [1, 1], [2, 2], [3, 3]].map((r) => Float64Array.from(r));
    const cache = new PagedKVCache(layout);
    for (const r of rows.slice(0, 5)) cache.append(r, r, null);
    cache.hold();
    // Filling block 1 moves the stream past block 0's reach; the call is taken back.
    for (const r of rows.slice(5)) cache.append(r, r, null);
    cache.takeBack();
    cache.truncate(2);
    const fresh = new PagedKVCache(layout);
    for (const cut of [cache, fresh]) {
      if (cut === fresh) for (const r of rows.slice(0, 2)) fresh.append(r, r, null);
      for (const r of rows.slice(2, 4)) cut.append(r, r, null);
    }
    expect(sameBits(cache.blockAt(0)!.keysInt8!, fresh.blockAt(0)!.keysInt8!)).toBe(true);
    expect(sameBits(cache.blockAt(0)!.keyScales!, fresh.blockAt(0)!.keyScales!)).toBe(true);
  });

  it('of an engine: a prompt refused after it filled a block leaves the rollback before it exact', () => {
    // Scale 1e300: the last token's score overflows a double, refusing the prompt part-way.
    const o = { dim: 2, precision: 'float64', cacheDtype: 'int8', blockSize: 4, retain: 3, scale: 1e300 } as const;
    const tokens = [[0.3, -0.2], [0.1, 0.25], [4, -4], [-4, 4], [0.5, 0.5]];
    const engine = createAttention(o);
    const fresh = createAttention(o);
    engine.pushMany(tokens);
    expect(refusal(() => engine.pushMany([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3], [1e6, 1e6]])).code).toBe('NON_FINITE');
    engine.truncate(2);
    fresh.pushMany(tokens.slice(0, 2));
    expect(sameBits(engine.push([1e-299, 0])[0]!.output, fresh.push([1e-299, 0])[0]!.output)).toBe(true);
  });
});

describe('snapshots of the float keys kept', () => {
  const o = { dim: 2, precision: 'float32', cacheDtype: 'int8', blockSize: 4, retain: 3 } as const;
  const tokens = [[0.3, -0.2], [0.1, 0.25], [4, -4], [-4, 4], [0.5, 0.5]];

  function fileOf(options: AttentionOptions): Uint8Array {
    const engine = createAttention(options);
    engine.pushMany(tokens);
    const bytes = engine.snapshot();
    engine.dispose();
    return bytes;
  }

  it('are written at version 8, and restored, keep the rollback exact', () => {
    const bytes = fileOf(o);
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata['version']).toBe('8');
    expect([...tensors.get('exact_key_blocks')!.data]).toEqual([0]);
    const restored = restoreAttention(bytes);
    restored.truncate(2);
    const fresh = createAttention(o);
    fresh.pushMany(tokens.slice(0, 2));
    expect(sameBits(restored.push([0.2, 0.1])[0]!.output, fresh.push([0.2, 0.1])[0]!.output)).toBe(true);
  });

  it('are refused when they do not quantize to the block, name a block not quantized, or one out of reach', () => {
    const corrupt = (edit: Parameters<typeof edited>[1]) => refusal(() => restoreAttention(edited(fileOf(o), edit)));
    expect(
      corrupt((t) => {
        const keys = t.get('exact_keys')!;
        t.set('exact_keys', { ...keys, data: Float32Array.from(keys.data as Float32Array, (x, i) => (i === 5 ? 0.125 : x)) });
      }),
    ).toMatchObject({ code: 'CORRUPT_SNAPSHOT', message: expect.stringContaining('exact_keys of block 0 do not quantize to its keys_int8 and key_scales') });
    expect(corrupt((t) => t.set('exact_key_blocks', { dtype: 'I32', shape: [1], data: Int32Array.of(1) }))).toMatchObject({
      code: 'CORRUPT_SNAPSHOT',
      message: expect.stringContaining('must ascend and name blocks in key_blocks, got 1'),
    });
    expect(corrupt((t) => t.delete('exact_keys'))).toMatchObject({ code: 'CORRUPT_SNAPSHOT', message: expect.stringContaining('exact_keys is missing') });
    // retain 1 at length 5 reaches position 4 only: block 0's float keys are in no file it writes.
    const withExact = decodeSafetensors(fileOf(o)).tensors;
    const far = edited(fileOf({ ...o, retain: 1 }), (t) => {
      t.set('exact_key_blocks', withExact.get('exact_key_blocks')!);
      t.set('exact_keys', withExact.get('exact_keys')!);
    });
    expect(refusal(() => restoreAttention(far))).toMatchObject({
      code: 'CORRUPT_SNAPSHOT',
      message: expect.stringContaining('which no truncate within retain + lookahead (1) of length 5 can reach'),
    });
  });
});
