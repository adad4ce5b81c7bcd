import type { Vector } from '../../attention/index.js';

/**
 * `y[rows] = W[rows×cols] · x[cols] + b`, W row-major (`y = W x + b`, the torch.nn.Linear
 * convention; no b: no bias), in float64.
 */
export function multiply(w: Vector, x: Vector, rows: number, b?: Vector): Float64Array {
  const cols = x.length;
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) y[r]! += w[r * cols + c]! * x[c]!;
    if (b !== undefined) y[r]! += b[r]!;
  }
  return y;
}
