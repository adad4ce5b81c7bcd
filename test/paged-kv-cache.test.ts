import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PagedKVCache } from '../src/cache/index.js';
import { readValueRow } from '../src/cache/value-layout.js';
import { quantizeColumnsInt8 } from '../src/kernels/quantize-int8.js';
import { wasmArena } from '../src/kernels/wasm/wasm-arena.js';
import type { ArenaPool } from '../src/kernels/wasm/wasm-arena.js';

/** Key and value of kv head g, channel c, at position p in the model: a number only (p, g, c, stamp) determine. */
const entry = (stamp: number, g: number, c: number) => stamp * 100 + g * 10 + c;

type Op =
  | { kind: 'append'; cache: number }
  | { kind: 'fork'; cache: number }
  | { kind: 'truncate'; cache: number; fraction: number }
  | { kind: 'release'; cache: number; keepHead: number; fraction: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('append' as const), cache: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fork' as const), cache: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), cache: fc.nat(3), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), cache: fc.nat(3), keepHead: fc.nat(3), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }) },
);

describe('PagedKVCache against a model (a plain array of stamps per cache)', () => {
  it('every held position reads back what was appended to that cache, whatever forks, truncations and releases did to the others', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.array(op, { maxLength: 40 }), (blockSize, kvHeads, ops) => {
        const headDim = 2;
        const layout = { kvHeads, headDim, queryWidth: 3, blockSize, Float: Float64Array, int8: false };
        const caches = [new PagedKVCache(layout)];
        const models: number[][] = [[]];
        let stamp = 1;
        for (const o of ops) {
          const i = o.cache % caches.length;
          const cache = caches[i]!;
          const model = models[i]!;
          if (o.kind === 'append') {
            const k = new Float64Array(kvHeads * headDim);
            for (let g = 0; g < kvHeads; g++) for (let c = 0; c < headDim; c++) k[g * headDim + c] = entry(stamp, g, c);
            const v = k.map((x) => -x);
            cache.append(k, v, new Float64Array([stamp, stamp, stamp]));
            model.push(stamp++);
          } else if (o.kind === 'fork') {
            caches.push(cache.fork());
            models.push([...model]);
          } else if (o.kind === 'truncate') {
            const n = Math.floor(o.fraction * model.length);
            cache.truncate(n);
            model.length = n;
          } else {
            cache.releaseBetween(o.keepHead, Math.floor(o.fraction * model.length));
          }
          caches.forEach((c, n) => {
            const m = models[n]!;
            expect(c.length).toBe(m.length);
            for (let p = 0; p < m.length; p++) {
              const block = c.blockAt(p);
              if (block === null) continue; // released; holds() must agree
              expect(c.holds(p, p + 1)).toBe(true);
              const slot = p % blockSize;
              for (let g = 0; g < kvHeads; g++) {
                const value = new Float64Array(headDim);
                readValueRow(block.values!, g * blockSize * headDim, blockSize, headDim, slot, value, 0);
                for (let ch = 0; ch < headDim; ch++) {
                  expect(block.keys![(g * blockSize + slot) * headDim + ch]).toBe(entry(m[p]!, g, ch));
                  expect(value[ch]).toBe(-entry(m[p]!, g, ch));
                }
              }
              expect(block.queries![slot * 3]).toBe(m[p]);
            }
          });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('int8 blocks in the kernels\' arena hold exactly what plain int8 blocks hold, through quantizing, forks, truncations into quantized blocks and reuse, even once the arena is full', () => {
    const real = wasmArena();
    if (real === null) return;
    // Sometimes an arena that refuses every allocation after the first `room` (as at 4 GiB): blocks
    // that cannot get or keep their arrays there move to plain arrays, and nothing is lost or thrown.
    const room = fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 9 }), fc.array(op, { maxLength: 40 }), room, (blockSize, kvHeads, headDim, ops, limit) => {
        let allocations = 0;
        const arena = Object.create(real) as typeof real;
        arena.allocate = (bytes: number, pool?: ArenaPool) => (limit !== undefined && allocations++ >= limit ? -1 : real.allocate(bytes, pool));
        const layout = { kvHeads, headDim, queryWidth: 0, blockSize, Float: Float32Array, int8: true };
        const inArena = [new PagedKVCache({ ...layout, arena })];
        const plain = [new PagedKVCache(layout)];
        // Whether a cache (or the one it was forked from) was ever truncated: a plain block truncated
        // into after it was quantized keeps its kept keys' int8 rounding, where a block the full arena
        // left with float keys keeps them exact (architecture.md: a starved engine's scores are the
        // float keys'), and quantizes them later without the plain block's floor, so from then on the
        // two agree to within the int8 rounding only.
        const truncated = [false];
        let stamp = 1;
        for (const o of ops) {
          const i = o.cache % plain.length;
          if (o.kind === 'append') {
            const k = Float32Array.from({ length: kvHeads * headDim }, (_, n) => Math.sin(stamp * 7.1 + n) * (1 + (n % 3)));
            const v = k.map((x, n) => x * Math.cos(stamp + n));
            stamp++;
            plain[i]!.append(k, v, null);
            inArena[i]!.append(k, v, null);
          } else if (o.kind === 'fork') {
            plain.push(plain[i]!.fork());
            inArena.push(inArena[i]!.fork());
            truncated.push(truncated[i]!);
          } else if (o.kind === 'truncate') {
            truncated[i] = true;
            const n = Math.floor(o.fraction * plain[i]!.length);
            plain[i]!.truncate(n);
            inArena[i]!.truncate(n);
          } else {
            const before = Math.floor(o.fraction * plain[i]!.length);
            expect(inArena[i]!.releaseBetween(o.keepHead, before)).toEqual(plain[i]!.releaseBetween(o.keepHead, before));
          }
          plain.forEach((cache, n) => {
            const twin = inArena[n]!;
            // A block that kept float keys in a full arena holds more bytes; everything else agrees.
            expect({ ...twin.stats(), bytes: 0 }).toEqual({ ...cache.stats(), bytes: 0 });
            if (limit === undefined) expect(twin.stats().bytes).toBe(cache.stats().bytes);
            for (let p = 0; p < cache.length; p++) {
              const block = cache.blockAt(p);
              const arenaBlock = twin.blockAt(p);
              if (block === null) {
                expect(arenaBlock).toBeNull();
                continue;
              }
              if (limit === undefined) expect(arenaBlock!.keysByteOffset).toBeGreaterThan(0);
              // Quantized keys in the arena: the int8 rows and their scales, which the kernels find by
              // offset (a block in plain arrays has no offsets; one whose int8 keys did not fit keeps floats).
              if (arenaBlock!.keysByteOffset > 0) expect(arenaBlock!.keyScalesByteOffset > 0).toBe(arenaBlock!.keys === null);
              else expect(arenaBlock!.keyScalesByteOffset).toBe(0);
              // Rows are compared on the slots that hold tokens: a reused block's other slots hold whatever
              // it held before, and a full arena changes which blocks are reused.
              const held = Math.min(blockSize, cache.length - (p - (p % blockSize)));
              let fields: readonly ('keys' | 'keysInt8' | 'keyScales' | 'valuesInt8' | 'valueScales')[] = ['keys', 'keysInt8', 'keyScales', 'valuesInt8', 'valueScales'];
              if (limit !== undefined && truncated[n]) {
                // Each key within its channel's step in each block of the other's (a block's scale, or
                // the floor a filling block keeps: each refill re-rounds the plain block's kept keys,
                // and a scale that grows at least doubles, so the roundings add up to at most a step).
                fields = ['valuesInt8', 'valueScales'];
                for (let g = 0; g < kvHeads; g++) {
                  for (let slot = 0; slot < held; slot++) {
                    for (let c = 0; c < headDim; c++) {
                      const at = (g * blockSize + slot) * headDim + c;
                      const step = keyStep(arenaBlock!, g * headDim + c) + keyStep(block, g * headDim + c);
                      expect(Math.abs(keyAt(arenaBlock!, at, g * headDim + c) - keyAt(block, at, g * headDim + c)), `key ${c} of slot ${slot} at ${p}`).toBeLessThanOrEqual(step * (1 + 1e-6));
                    }
                  }
                }
              } else if (arenaBlock!.keys !== null && block.keys === null) {
                // Float keys kept where the arena had no room for int8 ones: quantized, they are the twin's.
                fields = ['valuesInt8', 'valueScales'];
                const keysInt8 = new Int8Array(block.keysInt8!.length);
                const keyScales = new Float32Array(block.keyScales!.length);
                for (let g = 0; g < kvHeads; g++) quantizeColumnsInt8(keysInt8, keyScales, g * headDim, arenaBlock!.keys, g * blockSize * headDim, blockSize, headDim, null);
                expect([Array.from(keysInt8), Array.from(keyScales)]).toEqual([Array.from(block.keysInt8!), Array.from(block.keyScales!)]);
              }
              const heldRows = (a: ArrayLike<number> & { subarray(from: number, to: number): ArrayLike<number> }, width: number) =>
                Array.from({ length: kvHeads }, (_, g) => Array.from(a.subarray(g * blockSize * width, (g * blockSize + held) * width)));
              const rowWidth = { keys: headDim, valuesInt8: headDim, valueScales: 1, keysInt8: 0, keyScales: 0 };
              for (const field of fields) {
                const a = arenaBlock![field];
                const b = block[field];
                const width = rowWidth[field];
                if (width > 0 && a !== null && b !== null) expect(heldRows(a, width), `${field} at ${p}`).toEqual(heldRows(b, width));
                else expect(a === null ? null : Array.from(a), `${field} at ${p}`).toEqual(b === null ? null : Array.from(b));
              }
            }
          });
        }
        for (const cache of [...plain, ...inArena]) cache.dispose();
      }),
      { numRuns: 200 },
    );
  });

  it('an int8 block whose arena cannot grow when it fills keeps its float keys, exactly as appended', () => {
    const arena = wasmArena();
    if (arena === null) return;
    // The arena's own allocator, refusing everything once the first block stands: as at 4 GiB.
    let grown = false;
    const full = Object.create(arena) as typeof arena;
    full.allocate = (bytes: number, pool?: ArenaPool) => (grown ? -1 : arena.allocate(bytes, pool));
    const cache = new PagedKVCache({ kvHeads: 2, headDim: 3, queryWidth: 0, blockSize: 4, Float: Float32Array, int8: true, arena: full });
    const keys = Array.from({ length: 10 }, (_, t) => Float32Array.from({ length: 6 }, (_, n) => Math.sin(t + n)));
    for (const k of keys) {
      cache.append(k, k, null);
      grown = true;
    }
    expect(cache.blockAt(0)!.keysByteOffset).toBeGreaterThan(0);
    // Later blocks could not go in the arena at all: plain arrays, quantized as usual.
    expect(cache.blockAt(4)!.keysByteOffset).toBe(-1);
    expect(cache.blockAt(4)!.keysInt8).not.toBeNull();
    expect(cache.length).toBe(10);
    const block = cache.blockAt(0)!;
    expect([block.keysInt8, block.keyScales, block.keyScalesByteOffset]).toEqual([null, null, 0]);
    keys.slice(0, 4).forEach((k, slot) => {
      for (let g = 0; g < 2; g++) expect(Array.from(block.keys!.subarray((g * 4 + slot) * 3, (g * 4 + slot + 1) * 3))).toEqual(Array.from(k.subarray(g * 3, g * 3 + 3)));
    });
    cache.dispose();
  });

  it('a write outside a held call copies a shared block and gives up its share: neither side counts it shared after', () => {
    // Found by a mutation test: the copy leaving the block's count as it was (so the other side
    // copied it again on its own next write) passed every test; the engine writes inside held calls.
    const cache = new PagedKVCache({ kvHeads: 1, headDim: 1, queryWidth: 0, blockSize: 4, Float: Float32Array, int8: false });
    for (let i = 0; i < 2; i++) cache.append(new Float32Array([i]), new Float32Array([i]), null);
    const twin = cache.fork();
    expect([cache.stats().sharedBlocks, twin.stats().sharedBlocks]).toEqual([1, 1]);
    cache.append(new Float32Array([2]), new Float32Array([2]), null);
    expect([cache.stats().sharedBlocks, twin.stats().sharedBlocks]).toEqual([0, 0]);
    twin.append(new Float32Array([7]), new Float32Array([7]), null);
    expect([cache.blockAt(2)!.keys![2], twin.blockAt(2)!.keys![2]]).toEqual([2, 7]);
  });

  it('releases only whole blocks inside [keepHead, before) and keeps the head', () => {
    const cache = new PagedKVCache({ kvHeads: 1, headDim: 1, queryWidth: 0, blockSize: 4, Float: Float32Array, int8: false });
    for (let i = 0; i < 20; i++) cache.append(new Float32Array([i]), new Float32Array([i]), null);
    expect(cache.releaseBetween(2, 13)).toEqual({ from: 4, to: 12, blocks: 2 });
    expect(cache.holds(0, 4)).toBe(true);
    expect(cache.holds(4, 12)).toBe(false);
    expect(cache.holds(12, 20)).toBe(true);
    expect(cache.releaseBetween(2, 13)).toBeNull();
  });

  it('keeps at most two free blocks for reuse, so a large truncate gives memory back', () => {
    const cache = new PagedKVCache({ kvHeads: 1, headDim: 4, queryWidth: 0, blockSize: 2, Float: Float32Array, int8: false });
    for (let i = 0; i < 100; i++) cache.append(new Float32Array(4), new Float32Array(4), null);
    cache.truncate(0);
    // A block: keys and values of 2 slots × 4 numbers, float32.
    expect(cache.stats().bytes).toBe(2 * (2 * 2 * 4 * 4));
  });
});

type Block = NonNullable<ReturnType<PagedKVCache['blockAt']>>;

/** A block's key at row-major index `at` (channel `channel` of its kv head's scales), dequantized when it is int8. */
function keyAt(block: Block, at: number, channel: number): number {
  return block.keys !== null ? block.keys[at]! : block.keysInt8![at]! * block.keyScales![channel]!;
}

/** How far a block's key may be from the key pushed: its int8 step, a filling block's floor, or 0. */
function keyStep(block: Block, channel: number): number {
  return block.keys === null ? block.keyScales![channel]! : (block.keyFloor?.[channel] ?? 0);
}
