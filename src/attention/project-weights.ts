import { addBias } from '../kernels/add-bias.js';
import type { FloatArray } from '../kernels/float-array.js';
import { matMatTransposed } from '../kernels/mat-mat.js';
import type { ArenaWeights, Projection } from './arena-weights.js';
import type { ResolvedOptions } from './options.js';
import type { AttentionStep } from './step.js';
import { assertRowsFinite } from './vector.js';
import type { FiniteCheck, RowCheck } from './vector.js';

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
    // The kernels' scratch could not grow: TypeScript loops over the matrices wherever they are.
    for (const [which, out] of products) matMatTransposed(out, x, copy === null ? weights[which]! : copy.view(which), n, out.length / n, cols);
  }
  for (const [which, out] of products) {
    const bias = weights[BIAS_OF[which]];
    if (bias !== null) addBias(out, bias, n);
  }
}

/**
 * The rows of each of `names`' projections of x's `n` rows (row after row), as one product by
 * {@link projectWeights}; in seed mode (no weights) x itself, in the options' precision, for
 * every name.
 */
export function projectRows(o: ResolvedOptions, copy: ArenaWeights | null, names: readonly Projection[], x: Float64Array, n: number): FloatArray[] {
  if (o.weights === null) {
    const rows = o.precision === 'float32' ? Float32Array.from(x) : x;
    return names.map(() => rows);
  }
  const width = { wq: o.heads * o.headDim, wk: o.kvHeads * o.headDim, wv: o.kvHeads * o.headDim, wo: o.dim };
  const rows = names.map((name) => new o.Float(n * width[name]));
  projectWeights(o, copy, names.map((name, i) => [name, rows[i]!] as const), x, n, o.dim);
  return rows;
}

/**
 * Each step's output ← wo · its head outputs (row i of `heads`, heads·headDim numbers) + bo, all
 * steps as one product.
 * @throws AttentionError NON_FINITE (`field: "output"`, the step's token) when an output overflowed,
 *   before any step's output is written; `row` runs each row's check (see assertRowsFinite).
 */
export function projectOutputs(o: ResolvedOptions, copy: ArenaWeights | null, heads: Float64Array, steps: readonly AttentionStep[], finite?: FiniteCheck, row?: RowCheck): void {
  if (steps.length === 0) return;
  const projected = new o.Float(steps.length * o.dim);
  projectWeights(o, copy, [['wo', projected]], heads, steps.length, o.heads * o.headDim);
  assertRowsFinite([[projected, o.dim, 'output']], steps.length, (i) => steps[i]!.index, finite, row);
  steps.forEach((step, i) => step.output.set(projected.subarray(i * o.dim, (i + 1) * o.dim)));
}
