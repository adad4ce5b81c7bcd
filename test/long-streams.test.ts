import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { AttentionError, batchAttention, createAttention, MAX_STREAM_LENGTH, restoreAttention } from '../src/index.js';
import type { Attention, AttentionOptions, AttentionStep, CacheEvent } from '../src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../src/cache/safetensors.js';
import { expectClose } from './support/close.js';
import { caseArbitrary, mulberry32, tokensArbitrary } from './support/engine-arbitraries.js';

const outputsOf = (steps: AttentionStep[]) => steps.map((s) => [s.index, Array.from(s.output), s.weights?.map((w) => Array.from(w))]);

function feed(options: AttentionOptions, xs: readonly number[][]) {
  const attn = createAttention(options);
  const steps = xs.flatMap((x) => attn.push(x));
  return { attn, steps };
}

describe('fork', () => {
  it('fork then push to both = two fresh engines fed the two histories', () => {
    fc.assert(
      fc.property(
        caseArbitrary({}, 20).chain(({ options, xs }) =>
          fc.tuple(fc.integer({ min: 0, max: xs.length }), tokensArbitrary(options.dim, 0, 8)).map(([split, branch]) => ({ options, xs, split, branch })),
        ),
        ({ options, xs, split, branch }) => {
          const { attn } = feed(options, xs.slice(0, split));
          const twin = attn.fork();
          const original = [...xs.slice(split).flatMap((x) => attn.push(x)), ...attn.flush()];
          const forked = [...branch.flatMap((x) => twin.push(x)), ...twin.flush()];
          const fresh = (history: number[][]) => {
            const e = createAttention(options);
            const steps = history.flatMap((x) => e.push(x));
            return [...steps, ...e.flush()].filter((s) => s.index >= split - (options.lookahead ?? 0) && !preSplit(s, split, options));
          };
          expect(outputsOf(original)).toEqual(outputsOf(fresh(xs)));
          expect(outputsOf(forked)).toEqual(outputsOf(fresh([...xs.slice(0, split), ...branch])));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('shares blocks instead of copying: a fork of a long prefix allocates nothing until it writes', () => {
    const attn = createAttention({ dim: 8, blockSize: 16 });
    for (let i = 0; i < 1000; i++) attn.push(new Float32Array(8).fill(i % 7));
    const twin = attn.fork();
    expect(twin.stats().sharedBlocks).toBe(attn.stats().blocks);
    twin.push(new Float32Array(8));
    expect(twin.stats().sharedBlocks).toBe(attn.stats().blocks - 1); // only the written block was copied
    expect(attn.stats().sharedBlocks).toBe(attn.stats().blocks - 1);
  });
});

/** Whether a step was already returned before the split (so a continuation does not return it again). */
function preSplit(step: AttentionStep, split: number, options: AttentionOptions): boolean {
  return step.index + (options.lookahead ?? 0) < split;
}

describe('truncate', () => {
  it('truncate(n) then pushes = a fresh engine fed the first n and the same pushes', () => {
    fc.assert(
      fc.property(
        caseArbitrary({}, 20).chain(({ options, xs }) =>
          fc.tuple(fc.integer({ min: 0, max: xs.length }), tokensArbitrary(options.dim, 0, 8)).map(([n, more]) => ({ options, xs, n, more })),
        ),
        ({ options, xs, n, more }) => {
          const { attn } = feed(options, xs);
          try {
            attn.truncate(n);
          } catch (e) {
            // Only a window may refuse, and only when it already evicted keys the first n need.
            expect((e as AttentionError).code).toBe('EVICTED');
            expect(options.window).toBeDefined();
            expect(attn.length).toBe(xs.length);
            return;
          }
          const fresh = createAttention(options);
          fresh.pushMany(xs.slice(0, n));
          const expected = [...more.flatMap((x) => fresh.push(x)), ...fresh.flush()];
          const actual = [...more.flatMap((x) => attn.push(x)), ...attn.flush()];
          expect(outputsOf(actual)).toEqual(outputsOf(expected));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('without a window any length can be reached; out of range is refused with OUT_OF_RANGE', () => {
    const attn = createAttention({ dim: 2 });
    attn.pushMany([[1, 0], [0, 1], [1, 1]]);
    expect(() => attn.truncate(4)).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE' }));
    expect(() => attn.truncate(-1)).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE' }));
    // A number given as a string is in range but not a number: the message says which.
    expect(() => attn.truncate('1' as never)).toThrow(
      expect.objectContaining({ code: 'OUT_OF_RANGE', message: 'truncate: expected an integer from 0 to 3, got "1" (a string)' }),
    );
    attn.truncate(0);
    expect(attn.length).toBe(0);
  });

  it('a window refuses to go back past what it evicted, and changes nothing', () => {
    const attn = createAttention({ dim: 2, window: 4, blockSize: 2 });
    for (let i = 0; i < 20; i++) attn.push([i, 1]);
    const before = attn.stats();
    expect(() => attn.truncate(5)).toThrow(expect.objectContaining({ code: 'EVICTED' }));
    expect(attn.stats()).toEqual(before);
    attn.truncate(19); // keys 16..18 are still held
    expect(attn.length).toBe(19);
  });
});

describe('truncate under a window with look-ahead', () => {
  it('each truncate(n) either refuses with EVICTED or leaves an engine that goes on as a fresh one fed the first n tokens', () => {
    // Found by a mutation test: a refusal that left look-ahead out (it counted from query n, not
    // n − L) was caught only by a random snapshot property, after minutes.
    const options: AttentionOptions = { dim: 2, window: 4, lookahead: 2, blockSize: 1, precision: 'float64' };
    const xs = Array.from({ length: 20 }, (_, t) => [Math.sin(1.7 * t), Math.cos(0.9 * t)]);
    const more = [[0.3, -0.2], [1, 0.5], [-0.4, 0.8]];
    const attn = createAttention(options);
    attn.pushMany(xs);
    let refused = 0;
    for (let n = 0; n <= xs.length; n++) {
      const fork = attn.fork();
      try {
        fork.truncate(n);
      } catch (error) {
        expect(error).toMatchObject({ code: 'EVICTED' });
        refused++;
        continue;
      }
      const fresh = createAttention(options);
      fresh.pushMany(xs.slice(0, n));
      const continued = (engine: Attention) => [...more.flatMap((x) => engine.push(x)), ...engine.flush()];
      expect(continued(fork), `truncate(${n})`).toEqual(continued(fresh));
    }
    // It does refuse where the window let keys go, and goes ahead where it need not.
    expect(refused).toBeGreaterThan(0);
    expect(refused).toBeLessThan(xs.length);
  });
});

describe('retain: rollback room beyond the window', () => {
  it('truncate(length − k) succeeds for every k ≤ retain + lookahead, after a flush too, however long the stream, and memory stays bounded', () => {
    // Found by a bug hunt: a flush emitted the pending outputs and the window then released what
    // truncate(length − k) needs for k > retain − lookahead.
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        (window, sinks, retain, blockSize, length, lookahead, flush) => {
          const options: AttentionOptions = { dim: 2, window, sinks, retain, blockSize, lookahead };
          const attn = createAttention(options);
          for (let i = 0; i < length; i++) attn.push([Math.sin(i), 1]);
          if (flush) attn.flush();
          for (let k = 0; k <= Math.min(retain + lookahead, length); k++) attn.fork().truncate(length - k);
          expect(attn.stats().retained).toBeLessThanOrEqual(sinks + blockSize + window + 2 * lookahead + retain + blockSize);
        },
      ),
    );
  });

  it('a score refused under look-ahead and a window: truncate(i) drops the query token i and the stream goes on', () => {
    // Found by a bug hunt: the window had released what truncate(i) needs, so errors.md's way out
    // threw EVICTED, and every later push met the same overflowing query.
    for (const blockSize of [1, 4, 64]) {
      const options: AttentionOptions = { dim: 1, precision: 'float64', window: 4, lookahead: 2, blockSize };
      const attn = createAttention(options);
      const xs = Array.from({ length: 70 }, (_, t) => [Math.sin(t)]);
      for (let t = 0; t < 10; t++) attn.push(xs[t]!);
      attn.push([1e200]);
      attn.push(xs[11]!);
      expect(() => attn.push(xs[12]!)).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'score', token: 10 }) }));
      attn.truncate(10);
      const control = createAttention(options);
      xs.slice(0, 10).forEach((x) => control.push(x));
      for (const x of xs.slice(10)) expect(attn.push(x)).toEqual(control.push(x));
    }
  });
});

describe('sliding windows at their boundary', () => {
  const W = 5;
  const S = 2;
  it.each([W - 1, W, W + 1, W + S, 2 * W, 2 * W + 1])('length %i equals batch attention with sinks and a window', (n) => {
    const random = mulberry32(n);
    const xs = Array.from({ length: n }, () => Array.from({ length: 4 }, () => random() * 4 - 2));
    for (const blockSize of [1, 2, 3, 64]) {
      const options: AttentionOptions = { dim: 4, window: W, sinks: S, precision: 'float64', withWeights: true, blockSize };
      const { steps } = feed(options, xs);
      const reference = batchAttention(xs, options);
      steps.forEach((step, i) => {
        const expectedKeys = Array.from({ length: i + 1 }, (_, j) => j).filter((j) => j < S || j > i - W);
        expect(Array.from(step.positions!)).toEqual(expectedKeys);
        expectClose(step.output, reference[i]!.output, 1e-12);
      });
    }
  });
});

describe('bounded memory', () => {
  it('a windowed stream reset (or truncated to 0) releases again as it goes on: the second stream holds what the first did, and evict events come again', () => {
    // Found by a mutation test: a truncate that forgot which blocks it had released below left
    // every block of the second stream held (50 against 1 here), and no test saw it.
    for (const back of [(e: Attention) => e.reset(), (e: Attention) => e.truncate(0)]) {
      const engine = createAttention({ dim: 2, window: 4, blockSize: 4 });
      let evicted = 0;
      engine.addCacheListener((event) => (evicted += event.type === 'evict' ? event.blocks : 0));
      const stream = Array.from({ length: 200 }, (_, t) => [Math.sin(t), Math.cos(t)]);
      for (const x of stream) engine.push(x);
      const first = [engine.stats(), evicted] as const;
      back(engine);
      evicted = 0;
      for (const x of stream) engine.push(x);
      expect(engine.stats()).toEqual(first[0]);
      expect(evicted).toBe(first[1]);
    }
  });

  it('1,000,000 tokens (dim 64, window 256, sinks 4): bytes constant once the window fills, sampled outputs equal the batch reference', () => {
    const dim = 64;
    const window = 256;
    const sinks = 4;
    const attn = createAttention({ dim, window, sinks, precision: 'float64' });
    // Token i is a function of i alone, so the reference can rebuild any window without keeping the stream.
    const token = (i: number): Float64Array => {
      const random = mulberry32(i);
      return Float64Array.from({ length: dim }, () => random() * 2 - 1);
    };
    const samples = new Set([window - 1, window, window + sinks, 300_001, 999_999]);
    const filled = window + sinks + 2 * attn.stats().blockSize;
    let bytesAfterFill = 0;
    const x = new Float64Array(dim);
    for (let i = 0; i < 1_000_000; i++) {
      const random = mulberry32(i);
      for (let c = 0; c < dim; c++) x[c] = random() * 2 - 1;
      const [step] = attn.push(x);
      if (i === filled) bytesAfterFill = attn.stats().bytes;
      if (i > filled && i % 1000 === 0) expect(attn.stats().bytes).toBe(bytesAfterFill);
      if (samples.has(i)) {
        // The keys the window keeps, in order: the sinks, then the last 256 tokens.
        const kept = Array.from({ length: i + 1 }, (_, j) => j).filter((j) => j < sinks || j > i - window);
        const expected = batchAttention(kept.map(token), { dim, precision: 'float64' }).at(-1)!.output;
        expectClose(step!.output, expected, 1e-12, `token ${i}`);
      }
    }
    expect(attn.stats()).toMatchObject({ tokens: 1_000_000, bytes: bytesAfterFill });
    expect(attn.stats().retained).toBeLessThanOrEqual(window + sinks + 2 * attn.stats().blockSize);
  }, 600_000);
});

describe('windowed pushes cost the same however long the stream', () => {
  // Counted, not timed, so it cannot flake: the block-table lookups of one push. blockSize 1
  // magnifies any scan over released blocks.
  it('a windowed push does as much work at token 5,000 as at token 100', () => {
    const engine = createAttention({ dim: 2, window: 4, blockSize: 1 });
    const lookupsOfOnePush = (): number => {
      const spy = vi.spyOn(Map.prototype, 'get');
      engine.push([1, 0]);
      const calls = spy.mock.calls.length;
      spy.mockRestore();
      return calls;
    };
    for (let i = 0; i < 100; i++) engine.push([Math.sin(i), 1]);
    const early = lookupsOfOnePush();
    for (let i = 101; i < 5_000; i++) engine.push([Math.sin(i), 1]);
    expect(lookupsOfOnePush()).toBeLessThanOrEqual(early);
  });

  it('and so does the first push after restoring a stream 1,000,000 tokens long (the file lists no released blocks)', () => {
    const lookupsOfOnePush = (engine: Attention): number => {
      const spy = vi.spyOn(Map.prototype, 'get');
      engine.push([1, 0]);
      const calls = spy.mock.calls.length;
      spy.mockRestore();
      return calls;
    };
    const fresh = createAttention({ dim: 2, window: 1, blockSize: 1 });
    for (let i = 0; i < 100; i++) fresh.push([Math.sin(i), 1]);
    const restored = restoreAttention(longStream(fresh, 1_000_000));
    expect(restored.length).toBe(1_000_000);
    // A few lookups, as any push: not one per block released before the snapshot.
    expect(lookupsOfOnePush(restored)).toBeLessThanOrEqual(lookupsOfOnePush(fresh) + 2);
  });
});

describe('the longest stream: positions are Int32', () => {
  it(`holds ${MAX_STREAM_LENGTH} tokens; a push past them is refused with OUT_OF_RANGE and changes nothing`, () => {
    const engine = createAttention({ dim: 2, window: 1, blockSize: 1, withWeights: true });
    const restored = restoreAttention(longStream(engine, MAX_STREAM_LENGTH - 1));
    const [step] = restored.push([0, 1]);
    expect(step!.index).toBe(MAX_STREAM_LENGTH - 1);
    expect(Array.from(step!.positions!)).toEqual([MAX_STREAM_LENGTH - 1]);
    for (const refused of [() => restored.push([1, 1]), () => restored.pushQKV([1, 1], [1, 1], [1, 1]), () => restored.pushMany([[1, 1]])]) {
      expect(refused).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE', details: expect.objectContaining({ actual: MAX_STREAM_LENGTH + 1 }) }));
    }
    expect(restored.length).toBe(MAX_STREAM_LENGTH);
    // Its own snapshot restores, and the stream starts again after reset().
    expect(restoreAttention(restored.snapshot()).length).toBe(MAX_STREAM_LENGTH);
    restored.reset();
    expect(restored.push([1, 1])[0]!.index).toBe(0);
  });

  it('restore refuses a length past it (CORRUPT_SNAPSHOT)', () => {
    expect(() => restoreAttention(longStream(createAttention({ dim: 2, window: 2 }), MAX_STREAM_LENGTH + 1))).toThrow(
      expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: expect.stringContaining(`exceeds the ${MAX_STREAM_LENGTH} tokens`) }),
    );
  });
});

/** `engine`'s snapshot (window 1: no earlier token is ever needed) rewritten as a stream `length` tokens long. */
function longStream(engine: Attention, length: number): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(engine.snapshot());
  const empty = { dtype: 'F32' as const, shape: [0, engine.options.kvHeads, engine.options.headDim], data: new Float32Array(0) };
  return encodeSafetensors(
    { ...Object.fromEntries(tensors), positions: { dtype: 'I32', shape: [0], data: new Int32Array(0) }, keys: empty, values: empty },
    { ...metadata, length: String(length), emitted: String(length) },
  );
}

describe('look-ahead', () => {
  it('token i is returned by the push of token i + L, the rest by flush()', () => {
    const attn = createAttention({ dim: 2, lookahead: 2 });
    expect(attn.push([1, 0])).toEqual([]);
    expect(attn.push([0, 1])).toEqual([]);
    expect(attn.push([1, 1]).map((s) => s.index)).toEqual([0]);
    expect(attn.push([2, 1]).map((s) => s.index)).toEqual([1]);
    expect(attn.flush().map((s) => s.index)).toEqual([2, 3]);
    expect(attn.flush()).toEqual([]);
  });
});

describe('stats and cache events', () => {
  it('report appends, evictions, forks, truncations and resets in order', () => {
    const attn = createAttention({ dim: 2, window: 3, blockSize: 2 });
    const events: CacheEvent[] = [];
    const stop = attn.addCacheListener((e) => events.push(e));
    for (let i = 0; i < 5; i++) attn.push([i, 1]);
    attn.fork();
    attn.truncate(4);
    attn.reset();
    stop();
    attn.push([1, 1]);
    // After token 3 the next query (4) attends 2..4, so block 0 (tokens 0 and 1) is released.
    expect(events.map((e) => e.type)).toEqual(['append', 'append', 'append', 'append', 'evict', 'append', 'fork', 'truncate', 'reset']);
    expect(events[4]).toEqual({ type: 'evict', from: 0, to: 2, blocks: 1, length: 4 });
    expect(events[7]).toEqual({ type: 'truncate', from: 5, length: 4 });
  });

  it('stats count tokens, blocks, bytes and capacity', () => {
    const attn = createAttention({ dim: 4, heads: 2, blockSize: 8, precision: 'float64' });
    for (let i = 0; i < 9; i++) attn.push([i, 1, 2, 3]);
    // Two blocks of 8 slots, each holding keys and values for 2 heads of 2 numbers, 8 bytes each.
    expect(attn.stats()).toEqual({ tokens: 9, retained: 9, blocks: 2, blockSize: 8, capacity: 16, bytes: 2 * 2 * 2 * 2 * 8 * 8, sharedBlocks: 0 });
  });
});
