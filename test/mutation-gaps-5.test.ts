import { describe, expect, it } from 'vitest';
import { wasmArena } from '../src/kernels/wasm/wasm-arena.js';

// Tests a mutation-testing round of the kernels found missing: each names the mutant it kills.

describe('exponentiate with a −∞ score', () => {
  it('makes the returned sum and the partial it stores NaN, not ±∞ (mutant: the −∞ flag sets the total to +∞)', () => {
    // Two guards stand between a −∞ score and a made-up weight of 0: the kernel's flag (the
    // returned sum non-finite), which `finish` reads, and the partial's NaN total, which makes
    // `merge` refuse the step. A total of +∞ would pass the first and defeat the second (1/∞ = 0:
    // finite outputs of 0), so each guard alone kept the engine right while the other was broken.
    const arena = wasmArena()!;
    for (const at of [0, 3, 8, 10]) {
      const scores = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((s, i) => (i === at ? -Infinity : s));
      const p = arena.allocate(8 * scores.length);
      const e = arena.allocate(4 * scores.length);
      const partial = arena.allocate(16);
      new Float64Array(arena.buffer, p, scores.length).set(scores);
      const sum = arena.exponentiate(p, scores.length, e, partial);
      expect(sum).toBeNaN();
      const [max, total] = new Float64Array(arena.buffer, partial, 2);
      expect(max).toBe(at === 10 ? 10 : 11);
      expect(total).toBeNaN();
      arena.release(p, 8 * scores.length);
      arena.release(e, 4 * scores.length);
      arena.release(partial, 16);
    }
  });
});
