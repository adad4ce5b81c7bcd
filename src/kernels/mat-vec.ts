import { dot } from './dot.js';
import type { FloatArray } from './float-array.js';

/**
 * `out[outOffset : outOffset+rows] = W[rows×cols] · x[xOffset : xOffset+cols]`, with W row-major
 * (the `torch.nn.Linear` convention `y = W x`).
 */
export function matVec(
  out: FloatArray,
  outOffset: number,
  w: FloatArray,
  x: FloatArray,
  xOffset: number,
  rows: number,
  cols: number,
): void {
  for (let r = 0; r < rows; r++) out[outOffset + r] = dot(w, r * cols, x, xOffset, cols);
}
