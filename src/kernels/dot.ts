import type { FloatArray } from './float-array.js';

/**
 * `a[aOffset : aOffset+n] · b[bOffset : bOffset+n]`, accumulated in four partial sums so the
 * additions do not wait on each other.
 */
export function dot(a: FloatArray, aOffset: number, b: FloatArray, bOffset: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += a[aOffset + i]! * b[bOffset + i]!;
    s1 += a[aOffset + i + 1]! * b[bOffset + i + 1]!;
    s2 += a[aOffset + i + 2]! * b[bOffset + i + 2]!;
    s3 += a[aOffset + i + 3]! * b[bOffset + i + 3]!;
  }
  for (; i < n; i++) s0 += a[aOffset + i]! * b[bOffset + i]!;
  return s0 + s1 + (s2 + s3);
}

/**
 * The dot products of `a[aOffset : aOffset+n]` with two rows of `b`, at `b0` and `b1`, into
 * `out[at]` and `out[at + 1]`: each bit for bit what {@link dot} gives (the same four partial
 * sums), with each number of `a` read once for both rows.
 */
export function dotTwo(a: FloatArray, aOffset: number, b: FloatArray, b0: number, b1: number, n: number, out: FloatArray, at: number): void {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let t0 = 0;
  let t1 = 0;
  let t2 = 0;
  let t3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const a0 = a[aOffset + i]!;
    const a1 = a[aOffset + i + 1]!;
    const a2 = a[aOffset + i + 2]!;
    const a3 = a[aOffset + i + 3]!;
    s0 += a0 * b[b0 + i]!;
    s1 += a1 * b[b0 + i + 1]!;
    s2 += a2 * b[b0 + i + 2]!;
    s3 += a3 * b[b0 + i + 3]!;
    t0 += a0 * b[b1 + i]!;
    t1 += a1 * b[b1 + i + 1]!;
    t2 += a2 * b[b1 + i + 2]!;
    t3 += a3 * b[b1 + i + 3]!;
  }
  for (; i < n; i++) {
    s0 += a[aOffset + i]! * b[b0 + i]!;
    t0 += a[aOffset + i]! * b[b1 + i]!;
  }
  out[at] = s0 + s1 + (s2 + s3);
  out[at + 1] = t0 + t1 + (t2 + t3);
}
