import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AttentionError, createAttention, pushEach } from '../src/index.js';
import type { AttentionOptions, AttentionStep } from '../src/index.js';
import { PROMPT_GROUPS } from '../src/attention/head-attention.js';
import { StepJob } from '../src/kernels/wasm/step-job.js';
import { wasmArena, wasmKernelsAvailable } from '../src/kernels/wasm/wasm-arena.js';
import { configArbitrary, mulberry32 } from './support/engine-arbitraries.js';
import { filePool } from './support/thread-pool.js';

// pushMany attends a prompt's queries in groups (HeadAttention.computeTogether), and pushEach its
// beams' queries (forks sharing a prompt's blocks): every query's step is
// laid out at once and the kernel runs each stretch of ~1,024 keys for every query in turn. These
// properties draw prompts past one stretch, so that groups straddle stretch boundaries and a
// group's queries have different numbers of stretches, and ask for single pushes' steps, bit for
// bit. Groups form only over keys past the caches (PROMPT_GROUPS.fromBytes, 16 MB); here, over any.

/** `n` tokens of `dim` numbers in ±1 from `seed`. */
function tokens(seed: number, n: number, dim: number): Float64Array[] {
  const random = mulberry32(seed);
  return Array.from({ length: n }, () => Float64Array.from({ length: dim }, () => random() * 2 - 1));
}

/** Options of every shape, their window (if any) past a stretch, float32 on the SIMD kernels. */
const longOptions = fc
  .tuple(configArbitrary({ precision: 'float32', maxHeads: 2 }), fc.integer({ min: 1025, max: 1300 }))
  .map(([options, window]): AttentionOptions => ({ ...options, kernels: 'auto', ...(options.window === undefined ? {} : { window }) }));

/** A prompt's cut: `before` tokens pushed one by one, then `prompt` as one pushMany (crossing 1,024 keys somewhere). */
const cut = fc.record({ before: fc.integer({ min: 0, max: 1100 }), prompt: fc.integer({ min: 1, max: 300 }), seed: fc.integer() });

/** Every step of `xs` pushed one by one, then flushed. */
function onePerPush(options: AttentionOptions, xs: readonly Float64Array[]): AttentionStep[] {
  const engine = createAttention(options);
  const steps = [...xs.flatMap((x) => engine.push(x)), ...engine.flush()];
  engine.dispose();
  return steps;
}

describe.runIf(wasmKernelsAvailable())('a prompt attended in groups of queries', () => {
  const pool = filePool();
  const fromBytes = PROMPT_GROUPS.fromBytes;
  beforeAll(() => {
    PROMPT_GROUPS.fromBytes = 0;
  });
  afterAll(() => {
    PROMPT_GROUPS.fromBytes = fromBytes;
  });

  it('lays a group out side by side, one scratch slot a query, only over keys past the caches', () => {
    const arena = wasmArena()!;
    const jobsOf = (fromBytes: number, n: number): number => {
      PROMPT_GROUPS.fromBytes = fromBytes;
      const attend = vi.spyOn(arena, 'attend');
      try {
        createAttention({ dim: 8, heads: 2 }).pushMany(tokens(1, n, 8));
        return new Set(attend.mock.calls.map(([job]) => job)).size;
      } finally {
        attend.mockRestore();
        PROMPT_GROUPS.fromBytes = 0;
      }
    };
    expect(jobsOf(0, 40)).toBe(PROMPT_GROUPS.most);
    // pushEach: one slot a beam.
    const root = createAttention({ dim: 8, heads: 2 });
    root.pushMany(tokens(2, 20, 8));
    const beams = [root.fork(), root.fork(), root.fork()];
    const attend = vi.spyOn(arena, 'attend');
    const seal = vi.spyOn(StepJob.prototype, 'seal');
    try {
      pushEach(beams, tokens(3, 3, 8));
      expect(new Set(attend.mock.calls.map(([job]) => job)).size).toBe(3);
      // Each beam's job runs the other way from the one before it, as a prompt's queries do, so
      // the keys one ends on are where the next starts.
      const backward = seal.mock.calls.map((call) => call[7]);
      expect(backward).toEqual([backward[0], !backward[0], backward[0]]);
    } finally {
      attend.mockRestore();
      seal.mockRestore();
    }
    expect(jobsOf(0, 5)).toBe(5);
    // 40 keys of 8 float32s, keys and values: 2,560 bytes.
    expect(jobsOf(2560, 40)).toBe(1);
  });

  it('gives the steps of single pushes, bit for bit, past a stretch of keys, for every option shape', () => {
    fc.assert(
      fc.property(longOptions, cut, (options, { before, prompt, seed }) => {
        const xs = tokens(seed, before + prompt, options.dim);
        const engine = createAttention(options);
        const steps = [...xs.slice(0, before).flatMap((x) => engine.push(x)), ...engine.pushMany(xs.slice(before)), ...engine.flush()];
        expect(steps).toEqual(onePerPush(options, xs));
      }),
      { numRuns: 12 },
    );
  });

  it('on a thread pool too: its shares of each stretch, bit for bit one thread pushing one by one', () => {
    fc.assert(
      fc.property(longOptions, cut, (options, { before, prompt, seed }) => {
        const xs = tokens(seed, before + prompt, options.dim);
        const engine = createAttention({ ...options, threads: pool() });
        const steps = [...engine.pushMany(xs.slice(0, before)), ...engine.pushMany(xs.slice(before)), ...engine.flush()];
        expect(steps).toEqual(onePerPush(options, xs));
      }),
      { numRuns: 6 },
    );
  });

  it('pushEach: beams forked from a prompt past a stretch take their tokens together, bit for bit their own pushes', () => {
    fc.assert(
      fc.property(
        longOptions,
        fc.record({ before: fc.integer({ min: 1000, max: 1100 }), beams: fc.integer({ min: 2, max: 5 }), steps: fc.integer({ min: 1, max: 3 }), pooled: fc.boolean(), seed: fc.integer() }),
        (drawn, { before, beams, steps, pooled, seed }) => {
          const options = pooled ? { ...drawn, threads: pool() } : drawn;
          const root = createAttention(options);
          root.pushMany(tokens(seed, before, options.dim));
          const together = Array.from({ length: beams }, () => root.fork());
          const alone = Array.from({ length: beams }, () => root.fork());
          for (let s = 0; s < steps; s++) {
            const xs = tokens(seed + 1 + s, beams, options.dim);
            const steps = pushEach(together, xs);
            xs.forEach((x, b) => expect(steps[b]).toEqual(alone[b]!.push(x)));
          }
          together.forEach((engine, b) => expect(engine.flush()).toEqual(alone[b]!.flush()));
        },
      ),
      { numRuns: 10 },
    );
  });

  it('pushEach refuses what the beams\' own pushes would refuse first, in engine order, and changes no beam', () => {
    const options: AttentionOptions = { dim: 8, heads: 2, positions: 'rope', blockSize: 4 };
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('plain', 'plain', 'overflows', 'rotates past'), { minLength: 2, maxLength: 6 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer(),
        (kinds, before, seed) => {
          const root = createAttention(options);
          root.pushMany(tokens(seed, before, options.dim));
          const xs = tokens(seed + 1, kinds.length, options.dim);
          kinds.forEach((kind, b) => {
            if (kind === 'overflows') xs[b]!.fill(1e20);
            if (kind === 'rotates past') xs[b]!.fill(3e38);
          });
          // Each beam's own push, alone: the first beam (in engine order) refused is pushEach's refusal.
          const first = kinds
            .map((_, b) => {
              try {
                root.fork().push(xs[b]!);
                return null;
              } catch (e) {
                return { engine: b, error: e as AttentionError };
              }
            })
            .find((r) => r !== null);
          const beams = kinds.map(() => root.fork());
          let actual: AttentionError | null = null;
          try {
            pushEach(beams, xs);
          } catch (e) {
            actual = e as AttentionError;
          }
          expect(actual?.code).toBe(first?.error.code);
          expect(actual?.details).toEqual(first === undefined ? undefined : { ...first.error.details, engine: first.engine });
          if (actual !== null) {
            const next = tokens(seed + 2, 1, options.dim)[0]!;
            const [twin] = root.fork().push(next);
            beams.forEach((beam) => {
              expect(beam.length).toBe(before);
              expect(beam.push(next)).toEqual([twin]);
            });
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('refuses what single pushes would refuse first: a query whose score overflows, or a row rotated past float32', () => {
    // Seed mode with RoPE: a token of 1e20s overflows its own score (q·k = 8e40 in float32); one of
    // 3e38s passes the input check, but RoPE turns its first pair past float32's largest.
    const options: AttentionOptions = { dim: 8, heads: 2, positions: 'rope', blockSize: 4 };
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('plain', 'plain', 'plain', 'overflows', 'rotates past'), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer(),
        (kinds, before, seed) => {
          const xs = tokens(seed, before + kinds.length, options.dim);
          kinds.forEach((kind, k) => {
            if (kind === 'overflows') xs[before + k]!.fill(1e20);
            if (kind === 'rotates past') xs[before + k]!.fill(3e38);
          });
          const single = createAttention(options);
          xs.slice(0, before).forEach((x) => single.push(x));
          let expected: AttentionError | null = null;
          try {
            xs.slice(before).forEach((x) => single.push(x));
          } catch (e) {
            expected = e as AttentionError;
          }
          const engine = createAttention(options);
          xs.slice(0, before).forEach((x) => engine.push(x));
          const next = tokens(seed + 1, 1, options.dim)[0]!;
          const [twin] = createAttention(options).pushMany([...xs.slice(0, before), next]).slice(-1);
          let actual: AttentionError | null = null;
          try {
            engine.pushMany(xs.slice(before));
          } catch (e) {
            actual = e as AttentionError;
          }
          expect(actual?.code).toBe(expected?.code);
          expect(actual?.details).toEqual(expected?.details);
          expect(actual?.message).toBe(expected?.message);
          if (actual !== null) {
            // Refused: the engine is as it was, its next step that of an engine that never saw the prompt.
            expect(engine.length).toBe(before);
            expect(engine.push(next)).toEqual([twin]);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

