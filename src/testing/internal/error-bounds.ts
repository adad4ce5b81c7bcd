import { resolveOptions } from '../../attention/index.js';
import type { AttentionOptions, AttentionStep, ResolvedOptions, Vector } from '../../attention/index.js';
import { inputProjections } from './input-projections.js';
import { multiply } from './multiply.js';

/**
 * How far an honest float implementation may drift from the float64 reference on one step.
 *
 * The model: storing q, k, v and the weights in the engine's precision (unit roundoff u), and
 * summing the projections and the scores in it, moves each score of head h by at most
 * `δ_h = C·u·(1 + rope)·scale·‖q̃_h‖·max_j‖k̃_j‖` (plus the rounding of the ALiBi bias), where
 * `q̃ = |W|·|x| + |b|` bounds every rounding in the projection, `C` counts the roundings (16, plus
 * one per addition of a four-lane sum over dim and over headDim, as the WebAssembly kernels add)
 * and `rope` adds the error of the rotation angles.
 *
 * Scores that each move by at most δ move every log-weight by at most 2δ (the score itself and
 * the log-sum-exp), so the honest weight of key j lies in `[exp(log α_j − 2δ), min(1, exp(log α_j + 2δ))]`,
 * computed from the reference's log-weights so that a weight which underflows to 0 is still
 * bounded (not `0·e^{2δ} = 0·∞`). The weights also sum to 1, so key j cannot go below
 * `1 − Σ_{k≠j} (upper bound of k)` nor above `1 − Σ_{k≠j} (lower bound of k)`. The bounds are
 * therefore gap-aware: a key whose score lies more than about 2δ + 40 below the best has no
 * freedom left, and the best key of a clear winner none either; only keys within about 2δ of
 * each other (true near-ties at the precision's resolution) may trade weight. A head's output
 * element c, `Σ_j α_j v_jc`, then moves by at most `Σ_j |Δα_j|·ṽ_jc` (ṽ bounding |v|).
 *
 * On top comes `base`: the caller's tolerance plus the rounding of sums of that many terms,
 * relative to `V_c = max_j ṽ_jc` (through |wo| with an output projection). Separately every
 * output must lie in the hull of the attended values: per head element between the smallest and
 * the largest `v_jc`, and through wo the image of that box (centre `wo·mid + bo`, radius
 * `|wo|·halfwidth`), widened by `base` for the rounding of the values.
 */
export interface StepBound {
  /** Per output element: the largest honest |actual − expected|. */
  readonly output: Float64Array;
  /** Per output element: the smallest value any weighting of the attended values gives. */
  readonly low: Float64Array;
  /** Per output element: the largest value any weighting of the attended values gives. */
  readonly high: Float64Array;
  /** Per output element: how far rounding the values may put an honest output outside [low, high]. */
  readonly margin: Float64Array;
  /** Per query head, aligned with the positions: the largest honest |Δα_j|, before `base`. */
  readonly weightChange: Float64Array[];
  /**
   * Per query head: the keys' weights sum to 1 (`sinkLogits` absent, `weightTotal` 1) or to 1 less
   * the sink's weight, which may move by `weightTotalChange` (before `base`).
   */
  readonly weightTotal: Float64Array;
  readonly weightTotalChange: Float64Array;
  /** Relative error allowed regardless of the scores. */
  readonly base: number;
}

/** A generous count of the roundings on the way from x to a score, besides the sums' additions. */
const ROUNDINGS = 16;

/** The unit roundoff of each precision. */
const UNIT_ROUNDOFF = { float32: 2 ** -24, float64: 2 ** -53 } as const;

/**
 * The spacing of each precision's subnormals: below its smallest normal number a rounding errs by
 * up to half of it however small the number, not by a fraction of the number.
 */
const SUBNORMAL_SPACING = { float32: 2 ** -149, float64: 2 ** -1074 } as const;

/**
 * Bounds for each of `reference` (steps with positions and weights, as `traceReference` returns
 * them), for an implementation storing in `options.precision` and allowed `tolerance` besides;
 * `sides` is 2 when both compared results are the implementation's own. `logWeights` (per step,
 * per head) are the reference's log-weights, finite where a weight underflows; without them they
 * are the logs of the weights, and a weight of 0 then gets no freedom.
 */
export function errorBounds(
  xs: readonly Vector[],
  options: AttentionOptions,
  reference: readonly AttentionStep[],
  tolerance: number,
  sides: 1 | 2 = 1,
  logWeights: readonly (readonly Float64Array[])[] = reference.map((step) => step.weights!.map((w) => Float64Array.from(w, Math.log))),
  sinkLogWeights: readonly Float64Array[] = reference.map((step) => Float64Array.from(step.weights!, (w) => (options.sinkLogits === undefined ? -Infinity : Math.log(1 - sum(w))))),
): StepBound[] {
  const o = resolveOptions(options);
  const { dim, heads, kvHeads, headDim } = o;
  const u = UNIT_ROUNDOFF[o.precision];
  const w = inputProjections(options) ?? undefined;
  // A four-lane sum of m terms adds each through at most ⌈m/4⌉ + 2 roundings: the projection over
  // dim (without weights there is none), the score over headDim.
  const scoreRoundings = ROUNDINGS + (w === undefined ? 0 : Math.ceil(dim / 4) + 2) + Math.ceil(headDim / 4) + 2;
  const absolute = (a: Vector): Float64Array => Float64Array.from(a, Math.abs);
  const wq = w === undefined ? null : absolute(w.wq);
  const wk = w === undefined ? null : absolute(w.wk);
  const wv = w === undefined ? null : absolute(w.wv);
  const wo = w?.wo === undefined ? null : absolute(w.wo);
  // Biases bound like any other term of the sums: by their absolute values.
  const bias = (b: Vector | undefined) => (b === undefined ? undefined : absolute(b));
  const [bq, bk, bv, bo] = [bias(w?.bq), bias(w?.bk), bias(w?.bv), bias(w?.bo)];
  const tokens = xs.map(absolute);
  const pairs = rotationPairs(o);
  // The fastest rotation, at least 1: an angle's rounding grows with it (ropeFrequencies past 1 rad a token).
  const ropeSpeed = o.positions !== 'rope' || o.ropeFrequencies === null ? 1 : Math.max(1, ...o.ropeFrequencies);
  const q = tokens.map((x) => (wq === null ? x : multiply(wq, x, heads * headDim, bq)));
  const k = tokens.map((x) => (wk === null ? x : multiply(wk, x, kvHeads * headDim, bk)));
  const v = tokens.map((x) => (wv === null ? x : multiply(wv, x, kvHeads * headDim, bv)));
  // Absolute error from roundings among subnormals (inputs near 1e-40 in float32): each stored or
  // computed number may be off by half a spacing, carried through wv's rows to the values.
  const wvRows = w === undefined ? 1 : largestRowSum(Float64Array.from(w.wv, Math.abs), kvHeads * headDim, dim);
  // The values themselves, signed, for the hull.
  const values = xs.map((x) => (w === undefined ? Float64Array.from(x) : multiply(w.wv, x, kvHeads * headDim, w.bv)));

  return reference.map((step, n) => {
    const i = step.index;
    const attended = Array.from(step.positions!);
    const base = sides * (tolerance + ROUNDINGS * u * (attended.length + headDim + dim));
    // Each rounding there errs by at most half a spacing: the stored input, carried through wv's
    // rows, the projection's and the weighted sum's additions; twice that, for slack.
    const underflow = sides * SUBNORMAL_SPACING[o.precision] * (wvRows + dim + headDim + attended.length);
    // An angle p·f is off by about u·p·f; indices and ranks alike stay below i + the newest key.
    const rope = o.positions === 'rope' ? (i + attended.at(-1)!) * ropeSpeed : 0;
    const weightChange: Float64Array[] = [];
    const headBound = new Float64Array(heads * headDim);
    const largest = new Float64Array(heads * headDim);
    // A sink weighs no value: with one, the outputs are convex combinations of the values and 0.
    const low = new Float64Array(heads * headDim).fill(o.sinkLogits === null ? Infinity : 0);
    const high = new Float64Array(heads * headDim).fill(o.sinkLogits === null ? -Infinity : 0);
    const weightTotal = new Float64Array(heads).fill(1);
    const weightTotalChange = new Float64Array(heads);
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / o.groupSize);
      let product = 0;
      let distance = 0;
      for (const j of attended) {
        product = Math.max(product, pairedProduct(q[i]!, h * headDim, k[j]!, g * headDim, pairs));
        distance = Math.max(distance, Math.abs(i - j));
      }
      const alibi = o.slopes === null ? 0 : o.slopes[h]! * distance;
      const delta = scoreRoundings * u * ((1 + rope) * o.scale * product + alibi);
      // The sink is one more weight of the softmax (its logit exact, the log-sum-exp not).
      const keys = attended.length;
      const sinkLog = sinkLogWeights[n]![h]!;
      const withSink = (keyed: ArrayLike<number>, sink: number): Float64Array => Float64Array.from({ length: keys + 1 }, (_, j) => (j < keys ? keyed[j]! : sink));
      const change =
        o.sinkLogits === null
          ? allowedChange(Float64Array.from(step.weights![h]!), logWeights[n]![h]!, delta, sides)
          : allowedChange(withSink(step.weights![h]!, Math.exp(sinkLog)), withSink(logWeights[n]![h]!, sinkLog), delta, sides);
      weightChange.push(change.subarray(0, keys));
      if (o.sinkLogits !== null) {
        weightTotal[h] = 1 - Math.exp(sinkLog);
        weightTotalChange[h] = change[keys]!;
      }
      for (let c = 0; c < headDim; c++) {
        const e = h * headDim + c;
        attended.forEach((j, rank) => {
          const magnitude = v[j]![g * headDim + c]!;
          const value = values[j]![g * headDim + c]!;
          headBound[e]! += change[rank]! * magnitude;
          largest[e] = Math.max(largest[e]!, magnitude);
          low[e] = Math.min(low[e]!, value);
          high[e] = Math.max(high[e]!, value);
        });
        headBound[e]! += base * largest[e]! + underflow;
      }
    }
    if (w?.wo === undefined) return { output: headBound, low, high, margin: largest.map((m) => base * m + underflow), weightChange, weightTotal, weightTotalChange, base };
    // wo mixes head elements linearly, so bounds add up through |wo| (multiply gets absolute values
    // only), plus the rounding of wo itself; the box [low, high] maps to centre ± radius.
    const output = multiply(wo!, headBound, dim);
    const scaleOfOutput = multiply(wo!, largest, dim, bo);
    for (let r = 0; r < dim; r++) output[r]! += base * scaleOfOutput[r]! + underflow;
    const centre = multiply(w.wo, low.map((l, e) => (l + high[e]!) / 2), dim, w.bo);
    const radius = multiply(wo!, low.map((l, e) => (high[e]! - l) / 2), dim);
    const radiusOfUnderflow = multiply(wo!, new Float64Array(heads * headDim).fill(underflow), dim);
    return {
      output,
      low: centre.map((m, r) => m - radius[r]!),
      high: centre.map((m, r) => m + radius[r]!),
      margin: scaleOfOutput.map((m, r) => base * m + underflow + radiusOfUnderflow[r]!),
      weightChange,
      weightTotal,
      weightTotalChange,
      base,
    };
  });
}

/**
 * Per key, the largest honest |α'_j − α_j| (sides 1) or |α'_j − α''_j| between two honest answers
 * (sides 2), when every score may move by δ: see {@link StepBound}.
 */
function allowedChange(weights: Float64Array, logWeights: Float64Array, delta: number, sides: 1 | 2): Float64Array {
  const n = weights.length;
  const up = logWeights.map((l) => Math.min(1, Math.exp(l + 2 * delta)));
  const down = logWeights.map((l) => Math.exp(l - 2 * delta));
  return weights.map((alpha, j) => {
    // The others' bounds, summed without j rather than subtracted from a total, which would cancel.
    let othersUp = 0;
    let othersDown = 0;
    for (let m = 0; m < n; m++) {
      if (m === j) continue;
      othersUp += up[m]!;
      othersDown += down[m]!;
    }
    const highest = Math.min(up[j]!, 1 - othersDown);
    const lowest = Math.max(down[j]!, 1 - othersUp);
    return sides === 2 ? Math.max(0, highest - lowest) : Math.max(0, highest - alpha, alpha - lowest);
  });
}
function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j]!;
  return s;
}

/**
 * The channels of a head as RoPE rotates them together: its pairs (`(m, m + ropeDim/2)`, or
 * `(2m, 2m + 1)` interleaved), then each channel it leaves alone on its own; without RoPE, every
 * channel on its own.
 */
function rotationPairs(o: ResolvedOptions): number[][] {
  const rotated = o.positions === 'rope' ? o.ropeDim : 0;
  const half = rotated / 2;
  const pairs = Array.from({ length: half }, (_, m) => (o.ropeStyle === 'interleaved' ? [2 * m, 2 * m + 1] : [m, m + half]));
  for (let c = rotated; c < o.headDim; c++) pairs.push([c]);
  return pairs;
}

/**
 * Σ over `pairs` of ‖q̃_pair‖·‖k̃_pair‖ (magnitudes at `qOffset`, `kOffset`): a bound on Σ_c |q_c||k_c|
 * for q and k rotated by any angles, since a rotation keeps each pair's norm. Tighter than ‖q̃‖·‖k̃‖:
 * a key channel the query does not read (a large bias, a model's massive activation) adds nothing.
 */
function pairedProduct(q: Float64Array, qOffset: number, k: Float64Array, kOffset: number, pairs: readonly (readonly number[])[]): number {
  let s = 0;
  for (const pair of pairs) {
    let qq = 0;
    let kk = 0;
    for (const c of pair) {
      qq += q[qOffset + c]! * q[qOffset + c]!;
      kk += k[kOffset + c]! * k[kOffset + c]!;
    }
    s += Math.sqrt(qq * kk);
  }
  return s;
}

/** The largest Σ_c |m[r, c]| over the rows of an absolute matrix `rows × cols`. */
function largestRowSum(m: Float64Array, rows: number, cols: number): number {
  let largest = 0;
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += m[r * cols + c]!;
    largest = Math.max(largest, sum);
  }
  return largest;
}
