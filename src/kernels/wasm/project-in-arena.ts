import type { FloatArray } from '../float-array.js';
import type { WasmArena } from './wasm-arena.js';

/**
 * The `project` kernel's signature (byte offsets): the arena's own, or a thread pool's split of it;
 * `work` is the scratch {@link projectInArena} was asked to set aside for it (0 when none).
 */
export type ProjectKernel = (out: number, x: number, w: number, n: number, rows: number, cols: number, work: number) => void;

/** One product of {@link projectInArena}: `out[n×rows] = X · Wᵀ` for the matrix W at byte offset `w`. */
export interface ArenaProduct {
  readonly w: number;
  readonly rows: number;
  readonly out: FloatArray;
}

/**
 * `out[n×rows] = X[n×cols] · Wᵀ` for each product, by the WebAssembly `project` kernel, for float32
 * matrices W (rows × cols, row-major) kept in the arena: float32 arithmetic in one fixed order per
 * output (so a token's numbers are the same alone or in a prompt), for a prompt four tokens to a
 * pass over W. The first `n·cols` numbers of X are rounded to float32 into the arena's scratch
 * once for all the products, laid out as the kernel reads them ({@link writeTokenRows}). `kernel`
 * runs the products: by default the arena's, on this thread; `workBytes` more bytes of the same
 * scratch (16-byte aligned) are its own to use. Returns false, computing nothing, when the scratch
 * cannot grow.
 */
export function projectInArena(
  arena: WasmArena,
  x: Float64Array,
  n: number,
  cols: number,
  products: readonly ArenaProduct[],
  kernel: ProjectKernel = arena.project,
  workBytes = 0,
): boolean {
  const xBytes = 4 * n * cols;
  let outBytes = 0;
  for (const product of products) outBytes = Math.max(outBytes, 4 * n * product.rows);
  const workAt = 16 * Math.ceil((xBytes + outBytes) / 16);
  const base = arena.scratch(workAt + workBytes);
  if (base < 0) return false;
  const outAt = base + xBytes;
  // The kernels never grow the memory: these views stay valid through the calls.
  const { f32 } = arena.views();
  writeTokenRows(f32, base >>> 2, x, n, cols);
  for (const { w, rows, out } of products) {
    kernel(outAt, base, w, n, rows, cols, workBytes === 0 ? 0 : base + workAt);
    out.set(f32.subarray(outAt >>> 2, (outAt >>> 2) + n * rows));
  }
  return true;
}

/**
 * Writes n tokens' rows of `cols` numbers (`x`, row after row) at `f32[at …]` as the `project`
 * kernel reads them (src/kernels/wasm/attention.wat): groups of four tokens packed, each group's
 * first four columns of its four tokens, then the next four, …, then the last `cols mod 4` columns
 * of each token in turn; the `n mod 4` tokens left over row after row. A group fills the 4·cols
 * numbers its four rows would, so token groups start where their rows would.
 */
export function writeTokenRows(f32: Float32Array, at: number, x: Float64Array, n: number, cols: number): void {
  const cols4 = cols & ~3;
  const rest = cols - cols4;
  const grouped = n & ~3;
  for (let g = 0; g < grouped; g += 4) {
    const group = at + g * cols;
    for (let t = 0; t < 4; t++) {
      const row = (g + t) * cols;
      for (let c = 0; c < cols4; c += 4) {
        const to = group + 4 * c + 4 * t;
        f32[to] = x[row + c]!;
        f32[to + 1] = x[row + c + 1]!;
        f32[to + 2] = x[row + c + 2]!;
        f32[to + 3] = x[row + c + 3]!;
      }
      for (let c = 0; c < rest; c++) f32[group + 4 * cols4 + rest * t + c] = x[row + cols4 + c]!;
    }
  }
  f32.set(x.subarray(grouped * cols, n * cols), at + grouped * cols);
}
