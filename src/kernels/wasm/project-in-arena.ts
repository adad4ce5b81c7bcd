import type { FloatArray } from '../float-array.js';
import type { WasmArena } from './wasm-arena.js';

/** The `project` kernel's signature (byte offsets): the arena's own, or a thread pool's split of it. */
export type ProjectKernel = (out: number, x: number, w: number, n: number, rows: number, cols: number) => void;

/**
 * `out[n×rows] = X[n×cols] · Wᵀ` by the WebAssembly `project` kernel, for a float32 matrix W
 * (rows × cols, row-major) kept in the arena at byte offset `w`: bit for bit what `matVec` gives
 * token by token (the kernel keeps `dot`'s order of additions), several times faster, and for a
 * prompt four tokens to a pass over W. The first `n·cols` numbers of X are copied into the arena's
 * scratch for the call; `out` receives the results rounded to float32. `kernel` runs the product:
 * by default the arena's, on this thread. Returns false, computing nothing, when the scratch cannot
 * grow.
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
  const xBytes = 8 * n * cols;
  const base = arena.scratch(xBytes + 4 * n * rows);
  if (base < 0) return false;
  const outAt = base + xBytes;
  const { f32, f64 } = arena.views();
  f64.set(x.subarray(0, n * cols), base >>> 3);
  kernel(outAt, base, w, n, rows, cols);
  out.set(f32.subarray(outAt >>> 2, (outAt >>> 2) + n * rows));
  return true;
}
