import type { FloatArray } from '../float-array.js';
import type { WasmArena } from './wasm-arena.js';

/** The `project` kernel's signature (byte offsets): the arena's own, or a thread pool's split of it. */
export type ProjectKernel = (out: number, x: number, w: number, n: number, rows: number, cols: number) => void;

/**
 * `out[n×rows] = X[n×cols] · Wᵀ` by the WebAssembly `project` kernel, for a float32 matrix W
 * (rows × cols, row-major) kept in the arena at byte offset `w`: float32 arithmetic in one fixed
 * order per output (so a token's numbers are the same alone or in a prompt), for a prompt four
 * tokens to a pass over W. The first `n·cols` numbers of X are rounded to float32 into the arena's
 * scratch for the call. `kernel` runs the product: by default the arena's, on this thread. Returns
 * false, computing nothing, when the scratch cannot grow.
 */
export function projectInArena(
  arena: WasmArena,
  out: FloatArray,
  x: Float64Array,
  w: number,
  n: number,
  rows: number,
  cols: number,
  kernel: ProjectKernel = arena.project,
): boolean {
  const xBytes = 4 * n * cols;
  const base = arena.scratch(xBytes + 4 * n * rows);
  if (base < 0) return false;
  const outAt = base + xBytes;
  const { f32 } = arena.views();
  f32.set(x.subarray(0, n * cols), base >>> 2);
  kernel(outAt, base, w, n, rows, cols);
  out.set(f32.subarray(outAt >>> 2, (outAt >>> 2) + n * rows));
  return true;
}
