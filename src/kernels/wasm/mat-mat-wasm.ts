import type { FloatArray } from '../float-array.js';
import type { WasmArena } from './wasm-arena.js';

/**
 * {@link matMatTransposed}'s WebAssembly twin for a float32 matrix: `out[n×rows] = X[n×cols] · Wᵀ`,
 * bit for bit what `matVec` gives token by token (the kernel keeps `dot`'s order of additions), and
 * several times faster. X and W are copied into the arena's scratch for the call; `out` receives the
 * results rounded to float32. Returns false, computing nothing, when the scratch cannot grow.
 */
export function matMatTransposedWasm(arena: WasmArena, out: FloatArray, x: Float64Array, w: Float32Array, n: number, rows: number, cols: number): boolean {
  // The kernel takes tokens four at a time: pad X with zero rows, and leave room for their outputs.
  const padded = 4 * Math.ceil(n / 4);
  const xBytes = 8 * padded * cols;
  const wBytes = 16 * Math.ceil(rows * cols / 4);
  const base = arena.scratch(xBytes + wBytes + 4 * padded * rows);
  if (base < 0) return false;
  const buffer = arena.buffer;
  const xAt = base;
  const wAt = base + xBytes;
  const outAt = wAt + wBytes;
  const xView = new Float64Array(buffer, xAt, padded * cols);
  xView.set(x.subarray(0, n * cols));
  xView.fill(0, n * cols);
  new Float32Array(buffer, wAt, rows * cols).set(w);
  arena.project(outAt, xAt, wAt, padded, rows, cols);
  out.set(new Float32Array(buffer, outAt, n * rows));
  return true;
}
