import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAttention } from '../src/index.js';
import { filePool } from './support/thread-pool.js';

// Found by a fuzz of pool lifecycles: every push woke every worker, which then polled for 2 ms,
// though a one-head engine over a short cache never hands a step over (200 pushes 5 ms apart cost
// 768 ms of CPU against 54 without the pool).

const pool = filePool(3);

afterEach(() => {
  vi.restoreAllMocks();
});

/** Atomics.notify calls (the pool's wake-ups and hand-overs) during `pushes`. */
function notifies(pushes: () => void): number {
  const notify = vi.spyOn(Atomics, 'notify');
  pushes();
  const calls = notify.mock.calls.length;
  notify.mockRestore();
  return calls;
}

describe("a pool's wake-ups", () => {
  it('stop for an engine whose steps stay on the calling thread, and its outputs are one thread’s', () => {
    const split = createAttention({ dim: 16, threads: pool() });
    const one = createAttention({ dim: 16 });
    const x = (t: number) => Array.from({ length: 16 }, (_, c) => Math.sin(t + c));
    // The first push may wake the workers (the pool has just started); after it, nothing is handed over.
    expect(split.push(x(0))).toEqual(one.push(x(0)));
    expect(notifies(() => {
      for (let t = 1; t < 50; t++) expect(split.push(x(t))).toEqual(one.push(x(t)));
    })).toBe(0);
  });

  it('go on for an engine whose steps split, and come back once one does', () => {
    const x = (t: number, dim: number) => Array.from({ length: dim }, (_, c) => Math.cos(t * c));
    const small = createAttention({ dim: 16, threads: pool() });
    for (let t = 0; t < 5; t++) small.push(x(t, 16));
    const wide = createAttention({ dim: 64, heads: 8, threads: pool() });
    // Each push wakes the two workers (a notify each) and hands its step over (a notify each).
    expect(notifies(() => {
      for (let t = 0; t < 10; t++) wide.push(x(t, 64));
    })).toBeGreaterThanOrEqual(2 * 10 + 2 * 9);
  });

  it('are decided per engine: pushes taking turns on one pool (a draft model and a target) wake the workers for the engine that splits alone (a review: one flag for the pool woke them for the wrong one)', () => {
    const x = (t: number, dim: number) => Array.from({ length: dim }, (_, c) => Math.cos(t * c + 1));
    const small = createAttention({ dim: 16, threads: pool() });
    const wide = createAttention({ dim: 64, heads: 8, threads: pool() });
    small.push(x(0, 16));
    wide.push(x(0, 64));
    for (let t = 1; t < 8; t++) {
      // The small engine's push neither wakes the workers nor hands anything over.
      expect(notifies(() => small.push(x(t, 16)))).toBe(0);
      // The wide one's wakes both workers before it hands its step over.
      const notify = vi.spyOn(Atomics, 'notify');
      const woken = vi.spyOn(pool(), 'wake');
      wide.push(x(t, 64));
      expect(notify.mock.calls.length).toBeGreaterThanOrEqual(2 + 2);
      expect(woken).toHaveBeenCalledWith(wide);
      notify.mockRestore();
      woken.mockRestore();
    }
  });

  it('keep nothing of an engine once it is dropped, within the synchronous job too (a memory audit: a WeakRef keeps its target until the job ends)', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const w = Float32Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i) / 8);
    const o = { dim: 64, heads: 4, threads: pool(), weights: { wq: w, wk: w, wv: w, wo: w } };
    /** Heap growth over `engines` engines made, pushed on the pool once, and disposed, all in this job. */
    const growth = (engines: number): number => {
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < engines; i++) {
        const engine = createAttention(o);
        engine.push(Array.from({ length: 64 }, (_, c) => Math.sin(c + i)));
        engine.dispose();
      }
      gc();
      return process.memoryUsage().heapUsed - before;
    };
    growth(50);
    // Measured: ~0.4 MB (the blocks' finalization records, released after the job), against
    // ~2.7 MB while the pool kept a WeakRef to each engine it was woken for.
    expect(growth(400)).toBeLessThan(1.5 * 2 ** 20);
  });
});
