import { describe, expect, it } from 'vitest';
import { createAttention } from '../src/index.js';
import type { Attention } from '../src/index.js';
import type { PagedKVCache } from '../src/cache/paged-kv-cache.js';
import { wasmKernelsAvailable } from '../src/kernels/wasm/wasm-arena.js';
import { createThreadPool } from '../src/threads/index.js';

/** Whether every block `engine` holds lives in the kernels' memory (where the SIMD kernels read it). */
function inArena(engine: Attention): boolean {
  const cache = (engine as unknown as { cache: PagedKVCache }).cache;
  for (let p = 0; p < cache.length; p += cache.layout.blockSize) if (cache.blockAt(p)!.keysByteOffset < 0) return false;
  return true;
}

const row = (t: number, dim: number) => Array.from({ length: dim }, (_, c) => Math.sin(t * 1.7 + c * 0.3));

describe.runIf(wasmKernelsAvailable())('a full arena (its memory at 4 GiB)', () => {
  // Found by a bug hunt: two blocks made outside a full arena sent every later step of the engine
  // to the TypeScript kernels (5× slower at H = 8, D = 128, n = 4,096), for good, though the
  // arena had room again once other engines were disposed.
  it('blocks made outside it move in once it has room again, and the steps are the kernels\' again, bit for bit', async () => {
    const own = await createThreadPool(2);
    try {
      const options = { dim: 16, heads: 2, blockSize: 4 };
      const starved = createAttention({ ...options, threads: own });
      // A pool splits a step bit for bit as one thread runs it: the twin is the unstarved engine.
      const twin = createAttention(options);
      let t = 0;
      const both = () => {
        const x = row(t++, options.dim);
        return [starved.push(x)[0]!.output, twin.push(x)[0]!.output] as const;
      };
      for (let i = 0; i < 5; i++) {
        const [got, want] = both();
        expect(got).toEqual(want);
      }
      // Fill the pool's arena (reserved, never touched) so that no block fits.
      const taken: [number, number][] = [];
      for (let size = 2 ** 30; size >= 16; ) {
        const at = own.arena.allocate(size);
        if (at < 0) size /= 2;
        else taken.push([at, size]);
      }
      // Past the run of regions the keys' and values' pools took before: new blocks need memory.
      for (let i = 0; i < 80; i++) {
        const [got, want] = both();
        got.forEach((v, c) => expect(Math.abs(v - want[c]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want[c]!))));
      }
      expect(inArena(starved)).toBe(false);
      const fork = starved.fork();
      for (const [at, size] of taken) own.arena.release(at, size);
      for (let i = 0; i < 6; i++) {
        const [got, want] = both();
        expect(got).toEqual(want);
      }
      expect(inArena(starved)).toBe(true);
      // The fork keeps the blocks it shared, and moves its own in at its next push.
      const x = row(t, options.dim);
      const [fromFork] = fork.push(x);
      const replay = createAttention(options);
      for (let i = 0; i < fork.length - 1; i++) replay.push(row(i, options.dim));
      expect(fromFork!.output).toEqual(replay.push(x)[0]!.output);
      expect(inArena(fork)).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('cuts a region for one size out of a larger one given back, and frees the rest, once the memory cannot grow', async () => {
    const own = await createThreadPool(1);
    try {
      const arena = own.arena;
      const taken: [number, number][] = [];
      for (let size = 2 ** 30; size >= 16; ) {
        const at = arena.allocate(size);
        if (at < 0) size /= 2;
        else taken.push([at, size]);
      }
      expect(arena.allocate(4096, 'keys')).toBe(-1);
      const [big, bytes] = taken.find(([, size]) => size === 2 ** 20)!;
      arena.release(big, bytes);
      // Before, a region given back at one size served that size only: the arena stayed full.
      expect(arena.allocate(4096, 'keys')).toBe(big);
      expect(arena.allocate(2 ** 20 - 4096, 'values')).toBe(big + 4096);
      expect(arena.allocate(16)).toBe(-1);
    } finally {
      await own.close();
    }
  });
});

