import { dot } from './dot.js';
import type { FloatArray } from './float-array.js';

/**
 * `out[n×rows] = X[n×cols] · Wᵀ`: row t of `out` is `W · x_t` for every row `x_t` of X, with W
 * row-major `rows × cols` (the `torch.nn.Linear` convention). Four tokens share each pass over a
 * row of W, so W is read from memory a quarter as often as by `n` separate {@link matVec} calls:
 * for a prompt, projections become matrix-matrix work.
 */
export function matMatTransposed(out: FloatArray, x: FloatArray, w: FloatArray, n: number, rows: number, cols: number): void {
  let t = 0;
  for (; t + 3 < n; t += 4) {
    const x0 = t * cols;
    const x1 = x0 + cols;
    const x2 = x1 + cols;
    const x3 = x2 + cols;
    for (let r = 0; r < rows; r++) {
      const wr = r * cols;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let c = 0; c < cols; c++) {
        const wc = w[wr + c]!;
        s0 += x[x0 + c]! * wc;
        s1 += x[x1 + c]! * wc;
        s2 += x[x2 + c]! * wc;
        s3 += x[x3 + c]! * wc;
      }
      out[t * rows + r] = s0;
      out[(t + 1) * rows + r] = s1;
      out[(t + 2) * rows + r] = s2;
      out[(t + 3) * rows + r] = s3;
    }
  }
  for (; t < n; t++) for (let r = 0; r < rows; r++) out[t * rows + r] = dot(w, r * cols, x, t * cols, cols);
}
