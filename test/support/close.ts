import { expect } from 'vitest';

/** Largest |a_i − b_i|, over the larger of 1 and max |b_i|: relative for big values, absolute near zero. */
export function scaledError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let magnitude = 1;
  for (let i = 0; i < expected.length; i++) magnitude = Math.max(magnitude, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  return worst / magnitude;
}

/** Asserts `scaledError(actual, expected) <= tolerance`, showing both arrays on failure. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what = 'values'): void {
  const error = scaledError(actual, expected);
  if (!(error <= tolerance)) {
    throw new Error(`${what}: scaled error ${error} > ${tolerance}\n actual   ${Array.from(actual).join(', ')}\n expected ${Array.from(expected).join(', ')}`);
  }
}

/** Σ a_i, for any array-like of numbers (unions of typed arrays have no callable reduce). */
export function sum(a: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += a[i]!;
  return total;
}
