import type { Vector } from '../../attention/index.js';

/** `y[rows] = W[rows×cols] · x[cols]`, W row-major (`y = W x`, the torch.nn.Linear convention), in float64. */
export function multiply(w: Vector, x: Vector, rows: number): Float64Array {
  const cols = x.length;
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) y[r]! += w[r * cols + c]! * x[c]!;
  }
  return y;
}
