/** Median and range of a sample, the figures the report prints. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly count: number;
}

/** The median (mean of the middle two for an even count), min and max of `samples`; throws on none. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('summarize: no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, count: sorted.length };
}

/**
 * The per-round ratios `numerators[i] / denominators[i]` of two contenders timed in the same
 * rounds of {@link interleave}, summarised. Each ratio compares runs made moments apart, so a
 * stretch of a busy machine that slows both cancels out, where a ratio of two medians would let it
 * land on one side.
 */
export function pairedRatios(numerators: readonly number[], denominators: readonly number[]): Summary {
  if (numerators.length !== denominators.length) throw new Error('pairedRatios: samples of different rounds');
  return summarize(numerators.map((x, i) => x / denominators[i]!));
}

/** max |a − b| over max |reference|, the agreement test between two implementations' outputs. */
export function relativeError(output: ArrayLike<number>, reference: ArrayLike<number>): number {
  if (output.length !== reference.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < reference.length; i++) {
    diff = Math.max(diff, Math.abs(output[i]! - reference[i]!));
    scale = Math.max(scale, Math.abs(reference[i]!));
  }
  if (Number.isNaN(diff)) return Infinity;
  return scale === 0 ? diff : diff / scale;
}
