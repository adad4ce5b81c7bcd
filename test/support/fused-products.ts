import type { WasmArena } from '../../src/kernels/wasm/wasm-arena.js';

const bits = new Float64Array(1);
const word = new BigInt64Array(bits.buffer);

/**
 * `a·b + c` rounded once to float32, a fused multiply-add of float32 numbers. The product is exact
 * in float64 (24 + 24 significant bits); the sum is rounded to odd in float64 (the neighbour with
 * an odd last bit when it is inexact, found by TwoSum), which has 29 bits to spare, so rounding
 * that to float32 rounds the exact sum.
 */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  if (!Number.isFinite(s)) return Math.fround(s);
  const back = s - p;
  const error = p - (s - back) + (c - back);
  bits[0] = s;
  if (error !== 0 && (word[0]! & 1n) === 0n) word[0] = word[0]! + ((error > 0) === (s > 0) ? 1n : -1n);
  return Math.fround(bits[0]);
}

/**
 * Whether the arena's kernels fuse their product-adds: the relaxed-SIMD build on an engine that
 * compiles `relaxed_madd` to a fused multiply-add. Probed through `project` on one lane that sums
 * −1·1 and (1 + 2⁻¹²)²: rounded once, 2⁻¹¹ + 2⁻²⁴; with the product rounded first, 2⁻¹¹.
 */
export function productsFused(arena: WasmArena): boolean {
  const w = arena.allocate(32);
  const x = arena.allocate(32);
  const out = arena.allocate(16);
  const { f32 } = arena.views();
  const near = 1 + 2 ** -12;
  f32.set([-1, 0, 0, 0, near, 0, 0, 0], w >>> 2);
  f32.set([1, 0, 0, 0, near, 0, 0, 0], x >>> 2);
  arena.project(out, x, w, 1, 1, 8);
  const result = arena.views().f32[out >>> 2]!;
  for (const [at, bytes] of [[w, 32], [x, 32], [out, 16]] as const) arena.release(at, bytes);
  if (result !== 2 ** -11 && result !== 2 ** -11 + 2 ** -24) throw new Error(`productsFused: unexpected probe result ${result}`);
  return result !== 2 ** -11;
}
