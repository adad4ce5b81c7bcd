import { dot } from './dot.js';
import type { FloatArray } from './float-array.js';

/**
 * `out[n×rows] = X[n×cols] · Wᵀ`: row t of `out` is `W · x_t` for every row `x_t` of X, with W
 * row-major `rows × cols` (the `torch.nn.Linear` convention). Four tokens share each pass over a
 * row of W, so W is read from memory a quarter as often as by one pass per token:
 * for a prompt, projections become matrix-matrix work.
 *
 * Each sum is accumulated in exactly {@link dot}'s order (four partial sums by column mod 4), so
 * the results are bit-identical to one `dot` per row and token (which is what `n` = 1 runs): pushing
 * a prompt at once equals pushing it token by token.
 */
export function matMatTransposed(out: FloatArray, x: FloatArray, w: FloatArray, n: number, rows: number, cols: number): void {
  let t = 0;
  const body = cols - (cols % 4);
  for (; t + 3 < n; t += 4) {
    const x0 = t * cols;
    const x1 = x0 + cols;
    const x2 = x1 + cols;
    const x3 = x2 + cols;
    for (let r = 0; r < rows; r++) {
      const wr = r * cols;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0; // token t, lanes 0..3
      let b0 = 0, b1 = 0, b2 = 0, b3 = 0; // token t + 1
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0; // token t + 2
      let d0 = 0, d1 = 0, d2 = 0, d3 = 0; // token t + 3
      let c = 0;
      for (; c < body; c += 4) {
        const w0 = w[wr + c]!;
        const w1 = w[wr + c + 1]!;
        const w2 = w[wr + c + 2]!;
        const w3 = w[wr + c + 3]!;
        a0 += x[x0 + c]! * w0;
        a1 += x[x0 + c + 1]! * w1;
        a2 += x[x0 + c + 2]! * w2;
        a3 += x[x0 + c + 3]! * w3;
        b0 += x[x1 + c]! * w0;
        b1 += x[x1 + c + 1]! * w1;
        b2 += x[x1 + c + 2]! * w2;
        b3 += x[x1 + c + 3]! * w3;
        c0 += x[x2 + c]! * w0;
        c1 += x[x2 + c + 1]! * w1;
        c2 += x[x2 + c + 2]! * w2;
        c3 += x[x2 + c + 3]! * w3;
        d0 += x[x3 + c]! * w0;
        d1 += x[x3 + c + 1]! * w1;
        d2 += x[x3 + c + 2]! * w2;
        d3 += x[x3 + c + 3]! * w3;
      }
      for (; c < cols; c++) {
        const wc = w[wr + c]!;
        a0 += x[x0 + c]! * wc;
        b0 += x[x1 + c]! * wc;
        c0 += x[x2 + c]! * wc;
        d0 += x[x3 + c]! * wc;
      }
      out[t * rows + r] = a0 + a1 + (a2 + a3);
      out[(t + 1) * rows + r] = b0 + b1 + (b2 + b3);
      out[(t + 2) * rows + r] = c0 + c1 + (c2 + c3);
      out[(t + 3) * rows + r] = d0 + d1 + (d2 + d3);
    }
  }
  for (; t < n; t++) for (let r = 0; r < rows; r++) out[t * rows + r] = dot(w, r * cols, x, t * cols, cols);
}
