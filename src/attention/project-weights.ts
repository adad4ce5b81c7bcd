import { addBias } from '../kernels/add-bias.js';
import type { FloatArray } from '../kernels/float-array.js';
import { matMatTransposed } from '../kernels/mat-mat.js';
import type { ArenaWeights, Projection } from './arena-weights.js';
import type { ResolvedOptions } from './options.js';

const BIAS_OF = { wq: 'bq', wk: 'bk', wv: 'bv', wo: 'bo' } as const satisfies Record<Projection, string>;

/**
 * `out = X · Wᵀ + b` for X's n rows and each `[which, out]` of `o`'s weights (projections of one
 * width: wq, wk and wv, or wo): the WebAssembly kernel when the matrices are in the arena
 * (`copy`), else the TypeScript loops; then the bias, added in the output's precision. A row is
 * bit for bit the same whatever n.
 */
export function projectWeights(
  o: ResolvedOptions,
  copy: ArenaWeights | null,
  products: readonly (readonly [Projection, FloatArray])[],
  x: Float64Array,
  n: number,
  cols: number,
): void {
  if (n === 0) return;
  const weights = o.weights!;
  if (copy === null || !copy.project(products, x, n)) {
    for (const [which, out] of products) matMatTransposed(out, x, weights[which]!, n, out.length / n, cols);
  }
  for (const [which, out] of products) {
    const bias = weights[BIAS_OF[which]];
    if (bias !== null) addBias(out, bias, n);
  }
}
