import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';

/**
 * `length` integers in `[−steps, steps]`. Drawing integers and scaling them afterwards keeps
 * counterexamples readable (0.3, −7000 rather than 0.30000000000000004) and makes exact ties
 * common, and integers shrink towards 0 one step at a time.
 */
export function gridArbitrary(length: number, steps: number): Arbitrary<number[]> {
  return fc.array(fc.integer({ min: -steps, max: steps }), { minLength: length, maxLength: length });
}

/** The grid points `ks` as numbers in `[−magnitude, magnitude]`: `k · magnitude / steps`. */
export function onGrid(ks: readonly number[], magnitude: number, steps: number): number[] {
  // Multiply first, so the division rounds once and 0.3 reads 0.3; near float64's largest, where
  // k·m would overflow, divide first.
  return ks.map((k) => (Number.isFinite(k * magnitude) ? (k * magnitude) / steps : k * (magnitude / steps)));
}
