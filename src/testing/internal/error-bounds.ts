import { resolveOptions } from '../../attention/index.js';
import type { AttentionOptions, AttentionStep, Vector } from '../../attention/index.js';
import { multiply } from './multiply.js';

/**
 * How far an honest float implementation may drift from the float64 reference on one step.
 *
 * The model: storing q, k, v and the weights in the engine's precision (unit roundoff u), and
 * summing the projections and the scores in it, moves each score of head h by at most
 * `δ_h = C·u·(1 + rope)·scale·‖q̃_h‖·max_j‖k̃_j‖`, where `q̃ = |W|·|x| + |b|` bounds every rounding in the
 * projection, `C` counts the roundings (16, plus one per addition of a four-lane sum over dim and
 * over headDim, as the WebAssembly kernels add) and `rope` adds the error of the rotation angles. A
 * softmax whose scores move by at most δ has every weight within a factor `e^{±2δ}`, so weights
 * may differ by `α·(e^{2δ} − 1)` and a head's output element c, a convex combination of the
 * attended values, by `(e^{2δ} − 1)·V_c` with `V_c = max_j |ṽ_j,c|`. On top comes `base`: the
 * caller's tolerance plus the rounding of sums of that many terms, relative to the same scales.
 *
 * Where δ is large (scores ≈1e8 stored in float32, nearly equal at float32 resolution) the bound
 * grows to the whole range of the values: any convex combination is then an honest answer, and
 * the output is only required to be finite and inside the hull of the attended values.
 */
export interface StepBound {
  /** Per output element: the largest honest |actual − expected|. */
  readonly output: Float64Array;
  /** Per output element: the largest |output| any convex combination of the attended values gives. */
  readonly hull: Float64Array;
  /** Per query head: `e^{2δ_h} − 1`, the relative slack of every weight. */
  readonly weightSlack: Float64Array;
  /** Relative error allowed regardless of the scores. */
  readonly base: number;
}

/** A generous count of the roundings on the way from x to a score, besides the sums' additions. */
const ROUNDINGS = 16;

/** The unit roundoff of each precision. */
export const UNIT_ROUNDOFF = { float32: 2 ** -24, float64: 2 ** -53 } as const;

/**
 * Bounds for each of `reference` (steps with positions, as `referenceAttention` returns with
 * `withWeights`), for an implementation storing in `options.precision` and allowed `tolerance`
 * besides; `sides` is 2 when both compared results are the implementation's own.
 */
export function errorBounds(
  xs: readonly Vector[],
  options: AttentionOptions,
  reference: readonly AttentionStep[],
  tolerance: number,
  sides = 1,
): StepBound[] {
  const o = resolveOptions(options);
  const { dim, heads, kvHeads, headDim } = o;
  const u = UNIT_ROUNDOFF[o.precision];
  const w = options.weights;
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
  const q = tokens.map((x) => (wq === null ? x : multiply(wq, x, heads * headDim, bq)));
  const k = tokens.map((x) => (wk === null ? x : multiply(wk, x, kvHeads * headDim, bk)));
  const v = tokens.map((x) => (wv === null ? x : multiply(wv, x, kvHeads * headDim, bv)));

  return reference.map((step) => {
    const i = step.index;
    const attended = Array.from(step.positions!);
    const base = sides * (tolerance + ROUNDINGS * u * (attended.length + headDim + dim));
    // An angle p·f is off by about u·p; indices and ranks alike stay below i + the newest key.
    const rope = o.positions === 'rope' ? i + attended.at(-1)! : 0;
    const weightSlack = new Float64Array(heads);
    const headBound = new Float64Array(heads * headDim);
    const headHull = new Float64Array(heads * headDim);
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / o.groupSize);
      const qNorm = norm(q[i]!, h * headDim, headDim);
      let kNorm = 0;
      let distance = 0;
      for (const j of attended) {
        kNorm = Math.max(kNorm, norm(k[j]!, g * headDim, headDim));
        distance = Math.max(distance, Math.abs(i - j));
      }
      const bias = o.slopes === null ? 0 : o.slopes[h]! * distance;
      const delta = scoreRoundings * u * ((1 + rope) * o.scale * qNorm * kNorm + bias);
      weightSlack[h] = sides * Math.expm1(2 * delta);
      // Two convex combinations differ by at most twice the hull: beyond that δ says nothing.
      const drift = Math.min(weightSlack[h]!, 2) + base;
      for (let c = 0; c < headDim; c++) {
        let hull = 0;
        for (const j of attended) hull = Math.max(hull, v[j]![g * headDim + c]!);
        headHull[h * headDim + c] = hull;
        headBound[h * headDim + c] = drift * hull;
      }
    }
    if (wo === null) return { output: headBound, hull: headHull, weightSlack, base };
    // wo mixes head elements linearly, so bounds add up through |wo| (multiply gets absolute values
    // only), plus the rounding of wo itself.
    const output = multiply(wo, headBound, dim);
    const hull = multiply(wo, headHull, dim, bo);
    for (let r = 0; r < dim; r++) output[r]! += base * hull[r]!;
    return { output, hull, weightSlack, base };
  });
}

function norm(a: Float64Array, offset: number, length: number): number {
  let s = 0;
  for (let c = 0; c < length; c++) s += a[offset + c]! * a[offset + c]!;
  return Math.sqrt(s);
}
