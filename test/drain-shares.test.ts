import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { drainShares, OP_ATTEND, OP_PROJECT, OP_PROJECT_BF16, OP_PROJECT_F16, STEP_ARGS, STEP_BACKWARD, STEP_CHUNK, STEP_OP, STEP_PARTS, STEP_UNITS, STEP_WORDS } from '../src/kernels/wasm/drain-shares.js';
import type { ShareKernels } from '../src/kernels/wasm/drain-shares.js';
import { mulberry32 } from './support/engine-arbitraries.js';

/** A step region as a ThreadPool posts it, at an offset inside the buffer as in the pool's. */
function postedStep(op: number, parts: number, units: number, chunk: number, backward: boolean, args: readonly number[]): { control: Int32Array; step: number } {
  const step = 16;
  const control = new Int32Array(step + STEP_WORDS + parts);
  control[step + STEP_OP] = op;
  control[step + STEP_PARTS] = parts;
  control[step + STEP_UNITS] = units;
  control[step + STEP_CHUNK] = chunk;
  control[step + STEP_BACKWARD] = backward ? 1 : 0;
  args.forEach((a, i) => (control[step + STEP_ARGS + i] = a));
  for (let k = 0; k < parts; k++) {
    const shareUnits = Math.round(((k + 1) * units) / parts) - Math.round((k * units) / parts);
    control[step + STEP_WORDS + k] = Math.ceil(shareUnits / chunk) << 16;
  }
  return { control, step };
}

interface Ran {
  thread: number;
  u0: number;
  u1: number;
}

/**
 * Threads 0 … parts − 1 draining one posted attend step, interleaved at chunk boundaries: inside a
 * chunk, a thread may start another thread that has not started yet (which runs, and may start
 * others, before the chunk returns), as a late or preempted thread would see the step. Some
 * threads never start (a worker asleep or gone). The step's units are the job's items from
 * `seed mod 64` on (a prompt's group posts one stretch's items at a time). Returns each chunk run
 * (as units: items less that first), in the order run, and what each started thread's
 * drainShares returned.
 */
function interleavedDrain(parts: number, units: number, chunk: number, backward: boolean, seed: number, results: (u0: number, u1: number) => number) {
  const first = seed & 63;
  const { control, step } = postedStep(OP_ATTEND, parts, units, chunk, backward, [4096, first]);
  const random = mulberry32(seed);
  const ran: Ran[] = [];
  const returned = new Map<number, number>();
  const waiting = Array.from({ length: parts - 1 }, (_, i) => i + 1).filter(() => random() < 0.8);
  const start = (thread: number): void => {
    const kernels: ShareKernels = {
      attend: (job, i0, i1) => {
        expect(job).toBe(4096);
        expect(i0).toBeGreaterThanOrEqual(first);
        const [u0, u1] = [i0 - first, i1 - first];
        ran.push({ thread, u0, u1 });
        if (waiting.length > 0 && random() < 0.5) start(waiting.splice(Math.floor(random() * waiting.length), 1)[0]!);
        return results(u0, u1);
      },
      project: () => {
        throw new Error('an attend step projects nothing');
      },
      project_bf16: () => {
        throw new Error('an attend step projects nothing');
      },
      project_f16: () => {
        throw new Error('an attend step projects nothing');
      },
    };
    returned.set(thread, drainShares(kernels, control, step, thread));
  };
  start(0);
  return { ran, returned };
}

const attendCase = fc.record({
  parts: fc.integer({ min: 1, max: 5 }),
  units: fc.integer({ min: 1, max: 60 }),
  chunk: fc.integer({ min: 1, max: 6 }),
  backward: fc.boolean(),
  seed: fc.integer(),
  overflows: fc.array(fc.nat({ max: 59 }), { maxLength: 4 }),
});

describe('drainShares: the chunks of a step shared out among the threads that join it', () => {
  it('runs every unit exactly once, in chunks of its share numbered in the step’s direction, however late each thread starts', () => {
    fc.assert(
      fc.property(attendCase, ({ parts, units: raw, chunk, backward, seed }) => {
        const units = Math.max(parts, raw);
        const { ran } = interleavedDrain(parts, units, chunk, backward, seed, () => -1);
        const seen = new Array<number>(units).fill(0);
        for (const { u0, u1 } of ran) for (let u = u0; u < u1; u++) seen[u]!++;
        expect(seen).toEqual(new Array(units).fill(1));
        for (const { u0, u1 } of ran) {
          const k = Array.from({ length: parts }, (_, i) => i).find((i) => Math.round(((i + 1) * units) / parts) > u0)!;
          const start = Math.round((k * units) / parts);
          const end = Math.round(((k + 1) * units) / parts);
          expect(u1).toBeLessThanOrEqual(end);
          // Chunk c of the share: forward [start + c·chunk, …), backward […, end − c·chunk).
          if (backward) expect((end - u1) % chunk).toBe(0);
          else expect((u0 - start) % chunk).toBe(0);
          expect(u1 - u0).toBe(Math.min(chunk, backward ? u1 - start : end - u0));
        }
      }),
      { numRuns: 400 },
    );
  });

  it('each thread runs its own share from the front, in the step’s direction, and the others’ from their backs', () => {
    fc.assert(
      fc.property(attendCase, ({ parts, units: raw, chunk, backward, seed }) => {
        const units = Math.max(parts, raw);
        const { ran } = interleavedDrain(parts, units, chunk, backward, seed, () => -1);
        const shareOf = (u: number) => Array.from({ length: parts }, (_, i) => i).find((i) => Math.round(((i + 1) * units) / parts) > u)!;
        for (let thread = 0; thread < parts; thread++) {
          for (let k = 0; k < parts; k++) {
            const mine = ran.filter((r) => r.thread === thread && shareOf(r.u0) === k).map((r) => r.u0);
            // Its own share: onwards from the front; another's: inwards from the back.
            const frontFirst = (k === thread) !== backward;
            expect(mine).toEqual([...mine].sort((a, b) => (frontFirst ? a - b : b - a)));
          }
        }
        // The calling thread starts on its own share's first chunk.
        const start = backward ? Math.round(units / parts) - 1 : 0;
        expect(ran[0]!.thread).toBe(0);
        expect(backward ? ran[0]!.u1 - 1 : ran[0]!.u0).toBe(start);
      }),
      { numRuns: 300 },
    );
  });

  it('returns the lowest overflowing head among the chunks each thread ran, or -1', () => {
    fc.assert(
      fc.property(attendCase, ({ parts, units: raw, chunk, backward, seed, overflows }) => {
        const units = Math.max(parts, raw);
        // A chunk reports the lowest overflowing head among its units (here a unit's own index).
        const results = (u0: number, u1: number) => overflows.filter((u) => u >= u0 && u < u1).reduce((low, u) => (low < 0 || u < low ? u : low), -1);
        const { ran, returned } = interleavedDrain(parts, units, chunk, backward, seed, results);
        for (const [thread, result] of returned) {
          const own = ran.filter((r) => r.thread === thread).map((r) => results(r.u0, r.u1)).filter((r) => r >= 0);
          expect(result).toBe(own.length === 0 ? -1 : Math.min(...own));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a projection’s chunks tile its tokens (by fours) or a single token’s rows (by fours), with the kernel’s byte offsets, float32, bfloat16 or binary16 W', () => {
    fc.assert(
      fc.property(
        fc.record({
          n: fc.integer({ min: 1, max: 40 }),
          rows: fc.integer({ min: 1, max: 70 }),
          cols: fc.integer({ min: 1, max: 9 }),
          parts: fc.integer({ min: 1, max: 4 }),
          chunk: fc.integer({ min: 1, max: 3 }),
          op: fc.constantFrom(OP_PROJECT, OP_PROJECT_BF16, OP_PROJECT_F16),
        }),
        ({ n, rows, cols, parts: wanted, chunk, op }) => {
          const [out, x, w] = [1 << 20, 2 << 20, 3 << 20];
          const units = n > 1 ? Math.ceil(n / 4) : Math.ceil(rows / 4);
          const parts = Math.min(wanted, units);
          const { control, step } = postedStep(op, parts, units, chunk, false, [out, x, w, n, rows, cols]);
          const covered = new Array<number>(n * rows).fill(0);
          const project = (o: number, xs: number, ws: number, tokens: number, rowCount: number, c: number) => {
            expect(c).toBe(cols);
            // Token t0's output row, row r0 of W: recovered from the byte offsets the chunk was given.
            const t0 = (xs - x) / (4 * cols);
            const r0 = (ws - w) / ((op === OP_PROJECT ? 4 : 2) * cols);
            expect(o).toBe(out + 4 * (t0 * rows + r0));
            for (let t = t0; t < t0 + tokens; t++) for (let r = r0; r < r0 + rowCount; r++) covered[t * rows + r]!++;
          };
          const wrong = () => {
            throw new Error(`projection op ${op} runs only its own kernel`);
          };
          const kernels: ShareKernels = {
            attend: wrong,
            project: op === OP_PROJECT ? project : wrong,
            project_bf16: op === OP_PROJECT_BF16 ? project : wrong,
            project_f16: op === OP_PROJECT_F16 ? project : wrong,
          };
          for (let thread = 0; thread < parts; thread++) expect(drainShares(kernels, control, step, thread)).toBe(-1);
          expect(covered).toEqual(new Array(n * rows).fill(1));
        },
      ),
      { numRuns: 300 },
    );
  });
});
