import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ATTENTION_WASM_BASE64 } from '../src/kernels/wasm/attention-wasm.generated.js';
import { WasmArena, sharedWasmArena, wasmArena } from '../src/kernels/wasm/wasm-arena.js';
import type { ArenaPool } from '../src/kernels/wasm/wasm-arena.js';
import { productsFused } from './support/fused-products.js';

const POOLS: readonly ArenaPool[] = ['common', 'keys', 'values'];

/** A fresh arena of its own (sharedWasmArena makes a new one per call), or null without WebAssembly SIMD. */
function freshArena(): WasmArena | null {
  return sharedWasmArena();
}

/**
 * A fresh arena over a memory not shared, as the process's own (wasmArena) is, whose regions are
 * zeroed the same way but over a plain buffer; null without WebAssembly SIMD.
 */
function freshPlainArena(): WasmArena | null {
  if (freshArena() === null) return null;
  return new WasmArena(Uint8Array.from(atob(ATTENTION_WASM_BASE64), (c) => c.charCodeAt(0)));
}

describe("the WebAssembly arena's allocator", () => {
  it.each([
    ['shared', freshArena],
    ['plain', freshPlainArena],
  ] as const)('hands out zeroed, aligned regions that never overlap a live one, whatever the pools, sizes and releases (%s memory)', (_, make) => {
    if (make() === null) return;
    type Op = { kind: 'allocate'; bytes: number; pool: number } | { kind: 'release'; which: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('allocate' as const), bytes: fc.constantFrom(4, 16, 100, 4096, 16384, 65536, 300000), pool: fc.nat(2) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), which: fc.nat() }) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const arena = make()!;
        const live: { offset: number; bytes: number; pool: ArenaPool; stamp: number }[] = [];
        let stamp = 1;
        for (const o of ops) {
          if (o.kind === 'release') {
            if (live.length === 0) continue;
            const [gone] = live.splice(o.which % live.length, 1);
            arena.release(gone!.offset, gone!.bytes, gone!.pool);
            continue;
          }
          const pool = POOLS[o.pool]!;
          const offset = arena.allocate(o.bytes, pool);
          expect(offset).toBeGreaterThan(0);
          expect(offset % 16).toBe(0);
          const bytes = new Uint8Array(arena.buffer, offset, o.bytes);
          expect(offset + o.bytes).toBeLessThanOrEqual(arena.buffer.byteLength);
          expect(bytes.every((b) => b === 0)).toBe(true);
          for (const other of live) {
            expect(offset + o.bytes <= other.offset || other.offset + other.bytes <= offset).toBe(true);
          }
          // Stamped, so a region handed out again while live, or not zeroed on reuse, shows.
          bytes.fill(stamp & 255 || 1);
          live.push({ offset, bytes: o.bytes, pool, stamp: stamp++ });
        }
        for (const region of live) {
          const fill = region.stamp & 255 || 1;
          expect(new Uint8Array(arena.buffer, region.offset, region.bytes).every((b) => b === fill)).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('lays cache blocks out keys after keys and values after values, not key block, value block', () => {
    const arena = freshArena();
    if (arena === null) return;
    const size = 16384;
    const keys: number[] = [];
    const values: number[] = [];
    for (let b = 0; b < 40; b++) {
      keys.push(arena.allocate(size, 'keys'));
      values.push(arena.allocate(size, 'values'));
    }
    // Runs of 256 KiB: sixteen 16 KiB regions one after another, in each pool.
    for (let b = 1; b < 40; b++) {
      if (b % 16 !== 0) {
        expect(keys[b]! - keys[b - 1]!).toBe(size);
        expect(values[b]! - values[b - 1]!).toBe(size);
      }
    }
    // A common region is not taken from a pool's run.
    const common = arena.allocate(size);
    expect([...keys, ...values]).not.toContain(common);
  });

  it("gives a pool's free regions back lowest offset first, so a cache refilled after a release stays in order", () => {
    const arena = freshArena();
    if (arena === null) return;
    const size = 4096;
    const keys = Array.from({ length: 12 }, () => arena.allocate(size, 'keys'));
    for (const b of [5, 2, 9]) arena.release(keys[b]!, size, 'keys');
    expect([0, 1, 2].map(() => arena.allocate(size, 'keys'))).toEqual([keys[2], keys[5], keys[9]]);
  });

  it('takes regions of 256 KiB or more one at a time: no run is held back for them', () => {
    const arena = freshArena();
    if (arena === null) return;
    const big = 262144;
    const first = arena.allocate(big, 'values');
    const next = arena.allocate(16, 'common');
    expect(next).toBe(first + big);
  });

  it('serves a size it has no free region of from a larger free one before it grows the memory: engines of ever new shapes, one at a time, stay within a few times the largest one (a memory audit: 96 shapes took 2 GiB for 28 MB)', () => {
    const arena = freshPlainArena();
    if (arena === null) return;
    let largest = 0;
    for (let k = 1; k <= 48; k++) {
      // An engine's blocks of a new size in each pool, and a scratch region, all given back.
      const size = 4096 * k;
      const held = POOLS.flatMap((pool) => Array.from({ length: 8 }, () => [arena.allocate(size, pool), size, pool] as const));
      largest = Math.max(largest, 3 * 8 * size);
      for (const [offset, bytes, pool] of held) arena.release(offset, bytes, pool);
    }
    // Every region was given back, so the memory holds what the largest engine needed at once,
    // and what cutting larger free regions to size leaves between them.
    expect(arena.buffer.byteLength).toBeLessThanOrEqual(4 * largest);
  });

  it('runs the fused build exactly where the runtime has relaxed SIMD (Node 22+, or Node 20 with its flag), one build for every arena', () => {
    const arena = wasmArena();
    if (arena === null) return;
    const relaxed = Number(process.versions.node.split('.')[0]) >= 22 || process.execArgv.includes('--experimental-wasm-relaxed-simd');
    expect(arena.fused).toBe(relaxed);
    expect(freshArena()!.fused).toBe(relaxed);
    // The plain build rounds every product before its sum, whatever the hardware.
    if (!relaxed) expect(productsFused(arena)).toBe(false);
  });
});
