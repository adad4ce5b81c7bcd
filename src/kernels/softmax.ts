import type { FloatArray } from './float-array.js';

/**
 * `p[offset : offset+n] ← softmax(p[offset : offset+n])`, in place. With a `sink` logit the
 * softmax runs over the scores and it, and only the scores' weights are written: they then sum
 * to `1 − e^(sink − lse)`. The default, −∞, weighs nothing and changes no number.
 *
 * The maximum is subtracted before `exp`, so scores of any finite size give finite weights: the
 * largest term is exactly `exp(0) = 1` and the sum is at least 1. Returns the log-sum-exp of the
 * original scores (and the sink), which lets partial softmaxes over disjoint key ranges be merged.
 */
export function softmaxInPlace(p: FloatArray, offset: number, n: number, sink = -Infinity): number {
  let max = sink;
  for (let i = 0; i < n; i++) if (p[offset + i]! > max) max = p[offset + i]!;
  let sum = Math.exp(sink - max);
  for (let i = 0; i < n; i++) {
    const e = Math.exp(p[offset + i]! - max);
    p[offset + i] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let i = 0; i < n; i++) p[offset + i] = p[offset + i]! * inv;
  return max + Math.log(sum);
}
