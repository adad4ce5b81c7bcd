import type { AttentionRow } from './attention-row.js';

/** Which head's weights to read: a head number, or the mean over all heads (which also sums to 1). */
export type HeadChoice = number | 'mean';

/**
 * The weights of one head of `row`, or their mean over heads, aligned with `row.positions`.
 *
 * @example
 * ```ts
 * rowWeights(row, 'mean'); // Float64Array, sums to 1
 * rowWeights(row, 2);      // head 2's weights
 * ```
 */
export function rowWeights(row: AttentionRow, head: HeadChoice = 'mean'): Float64Array {
  if (head !== 'mean') {
    const weights = row.weights[head];
    if (weights === undefined) throw new RangeError(`rowWeights: head ${head} does not exist (the row has ${row.weights.length} heads)`);
    return Float64Array.from(weights);
  }
  const mean = new Float64Array(row.positions.length);
  for (const weights of row.weights) for (let n = 0; n < mean.length; n++) mean[n]! += weights[n]! / row.weights.length;
  return mean;
}

/** The weight `row` gives to `position`: 0 when the position was not attended (masked or evicted). */
export function weightAt(row: AttentionRow, weights: Float64Array, position: number): number {
  const n = row.positions.indexOf(position);
  return n < 0 ? 0 : weights[n]!;
}
