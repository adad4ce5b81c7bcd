import { AttentionError, describeValue } from '../errors.js';

/**
 * ALiBi head slopes of Press et al.: `m_h = 2^(−8(h+1)/H)` when H is a power of two; otherwise the
 * slopes of the power of two `P` below H, followed by every other slope of `2P` for the rest.
 * H = 8 gives 1/2, 1/4, …, 1/256; H = 6 gives 1/4, 1/16, 1/64, 1/256, 1/2, 1/8. With
 * `positions: 'alibi'` query head h subtracts `m_h·|i − j|` from its score of key j.
 *
 * @example
 * ```ts
 * import { alibiSlopes } from 'attnstream';
 * console.log(alibiSlopes(8)); // Float64Array [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625]
 * console.log(alibiSlopes(6)); // Float64Array [0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125]
 * ```
 *
 * @throws AttentionError INVALID_ARGUMENT unless `heads` is an integer from 1 to 2²⁴.
 */
export function alibiSlopes(heads: number): Float64Array {
  // As many heads as an engine may have (options.ts's MAX_WIDTH, not imported: options imports this).
  if (typeof heads !== 'number' || !Number.isInteger(heads) || heads < 1 || heads > 2 ** 24) {
    throw new AttentionError('INVALID_ARGUMENT', `alibiSlopes: heads must be an integer from 1 to 2^24, got ${describeValue(heads)}`, { field: 'heads', actual: describeValue(heads) });
  }
  const powerOfTwo = 2 ** Math.floor(Math.log2(heads));
  const slopes = new Float64Array(heads);
  for (let h = 0; h < powerOfTwo; h++) slopes[h] = 2 ** ((-8 * (h + 1)) / powerOfTwo);
  for (let h = powerOfTwo; h < heads; h++) {
    const k = 2 * (h - powerOfTwo); // every other slope of 2P: indices 0, 2, 4, …
    slopes[h] = 2 ** ((-8 * (k + 1)) / (2 * powerOfTwo));
  }
  return slopes;
}
