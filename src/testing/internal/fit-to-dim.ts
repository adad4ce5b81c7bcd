/**
 * Width at which the checks draw tokens before fitting them to a case's dim: the largest dim the
 * default options reach (seed mode, 4 heads of 4).
 */
export const DRAWN_WIDTH = 16;

/**
 * `x` cut to `dim` entries, or repeated to fill them. Drawing tokens independently of the options
 * and fitting them afterwards (rather than chaining) lets fast-check shrink the options while the
 * inputs stay put: a chained arbitrary redraws the inputs at random whenever the options shrink.
 */
export function fitToDim(x: readonly number[], dim: number): number[] {
  return Array.from({ length: dim }, (_, c) => x[c % x.length]!);
}
