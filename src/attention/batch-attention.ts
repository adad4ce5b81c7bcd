import { AttentionError, describeValue } from '../errors.js';
import type { FloatArray } from '../kernels/index.js';
import { resolveOptions } from './options.js';
import type { AttentionOptions, ResolvedOptions } from './options.js';
import type { AttentionStep } from './step.js';
import { assertProjects } from './options.js';
import { scoreOverflow } from './head-attention.js';
import { assertFinite, readVector } from './vector.js';
import type { Vector } from './vector.js';

/**
 * Attention over a whole sequence at once: every score, the mask, a max-subtracted softmax and the
 * weighted sum, in plain loops that follow the formulas. It is the readable twin the incremental
 * engine is checked against, and returns what pushing `xs` one by one and then flushing returns.
 *
 * Key j is attended by query i when `j ≤ i + lookahead` (and `j < n`) and, with a window,
 * `i − window < j` or `j < sinks`. With `sinkLogits`, head h's softmax also counts e^(sinkLogits[h]).
 *
 * @throws AttentionError as {@link createAttention} for bad options or vectors; NON_FINITE (`field:
 *   "score"`) for a score beyond a double's range, as a push refuses it.
 * @example
 * ```ts
 * import { batchAttention } from 'attnstream';
 * const steps = batchAttention([[1, 0], [0, 1], [1, 1]], { dim: 2, precision: 'float64' });
 * console.log(steps[2]!.output); // a_3 = Σ_j α_3j x_j
 * ```
 */
export function batchAttention(xs: readonly Vector[], options: AttentionOptions): AttentionStep[] {
  const o = resolveOptions(options);
  assertProjects(o, 'batchAttention');
  if (!Array.isArray(xs)) throw new AttentionError('INVALID_ARGUMENT', `batchAttention: expected an array of vectors, got ${describeValue(xs)}`, { field: 'xs' });
  const n = xs.length;
  const { heads, kvHeads, headDim } = o;
  const q: FloatArray[] = [];
  const k: FloatArray[] = [];
  const v: FloatArray[] = [];
  // Each key rotated once, by its stream index (the engine caches it so; without RoPE, as is).
  const rotatedKeys: Float64Array[] = [];
  const x = new Float64Array(o.dim);
  for (let i = 0; i < n; i++) {
    readVector(xs[i]!, o.dim, x, 0, 'x', i, undefined, o.precision === 'float32');
    q.push(linear(o, o.weights?.wq ?? null, o.weights?.bq ?? null, x, heads * headDim));
    k.push(linear(o, o.weights?.wk ?? null, o.weights?.bk ?? null, x, kvHeads * headDim));
    v.push(linear(o, o.weights?.wv ?? null, o.weights?.bv ?? null, x, kvHeads * headDim));
    assertFinite(q[i]!, heads * headDim, 'projected query', i);
    assertFinite(k[i]!, kvHeads * headDim, 'projected key', i);
    assertFinite(v[i]!, kvHeads * headDim, 'projected value', i);
    const key = new Float64Array(kvHeads * headDim);
    for (let g = 0; g < kvHeads; g++) key.set(rotated(o, k[i]!, g * headDim, i), g * headDim);
    // In the engine's precision a key whose rotation overflows is refused, as a push refuses it.
    if (o.invFreq !== null) assertFinite(o.Float.from(key), kvHeads * headDim, 'rotated key', i);
    rotatedKeys.push(key);
  }
  const steps: AttentionStep[] = [];
  for (let i = 0; i < n; i++) {
    const last = Math.min(i + o.lookahead, n - 1);
    const attended: number[] = [];
    for (let j = 0; j <= last; j++) if (isAttended(o, i, j)) attended.push(j);
    const concat = new Float64Array(heads * headDim);
    const weights: FloatArray[] = [];
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / (heads / kvHeads));
      // RoPE 'cache' positions rotate by the rank among the attended keys. Only the relative angle
      // counts, so a window key and the query turn by their stream indices (both ranks are those
      // shifted alike) and only a sink's score turns the query by its rank, as the engine does: the
      // same angles, so the same roundings decide an overflow at the edge of the range.
      const qWindow = rotated(o, q[i]!, h * headDim, i);
      const qSink = o.ropePositions === 'cache' ? rotated(o, q[i]!, h * headDim, attended.indexOf(i)) : qWindow;
      const scores = attended.map((j) => {
        const qi = i - o.window < j ? qWindow : qSink;
        const kj = rotatedKeys[j]!;
        let s = 0;
        for (let c = 0; c < headDim; c++) s += qi[c]! * kj[g * headDim + c]!;
        const bias = o.slopes === null ? 0 : -o.slopes[h]! * Math.abs(i - j);
        const score = s * o.scale + bias;
        return o.scoreCap === null ? score : o.scoreCap * Math.tanh(score / o.scoreCap);
      });
      // A learned sink logit is one more score whose weight is not returned: it weighs no value.
      const sink = o.sinkLogits === null ? -Infinity : o.sinkLogits[h]!;
      const max = Math.max(sink, ...scores);
      const exps = scores.map((s) => Math.exp(s - max));
      const sum = exps.reduce((a, b) => a + b, Math.exp(sink - max));
      // Refused as the engine refuses it: where the softmax's normaliser is not finite (a score of
      // +∞ or NaN; a −∞ one only weighs nothing, and a cap bends +∞ to itself).
      if (!Number.isFinite(max + Math.log(sum))) throw scoreOverflow(i, h, 'exceeds the range of a double');
      const alpha = exps.map((e) => e / sum);
      attended.forEach((j, rank) => {
        for (let c = 0; c < headDim; c++) concat[h * headDim + c] = concat[h * headDim + c]! + alpha[rank]! * v[j]![g * headDim + c]!;
      });
      weights.push(o.Float.from(alpha));
    }
    const wo = o.weights?.wo ?? null;
    const output = wo === null ? o.Float.from(concat) : linear(o, wo, o.weights!.bo, concat, o.dim);
    assertFinite(output, o.dim, 'output', i);
    steps.push(o.withWeights ? { index: i, output, positions: Int32Array.from(attended), weights } : { index: i, output });
  }
  return steps;
}

function isAttended(o: ResolvedOptions, i: number, j: number): boolean {
  return j <= i + o.lookahead && (i - o.window < j || j < o.sinks);
}

/**
 * `W·x + b` with W rows×x.length row-major (b, when given, added to the product rounded to the
 * engine's precision, as the engine adds it), or x itself in seed mode (W null).
 */
function linear(o: ResolvedOptions, w: FloatArray | null, b: FloatArray | null, x: Float64Array, rows: number): FloatArray {
  if (w === null) return o.Float.from(x);
  const y = new o.Float(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < x.length; c++) s += w[r * x.length + c]! * x[c]!;
    y[r] = s;
    if (b !== null) y[r] = y[r]! + b[r]!;
  }
  return y;
}

/**
 * One head's slice `u[offset : offset+headDim]`, RoPE-rotated to `position` when RoPE is on: its
 * first ropeDim numbers in pairs (m, m + ropeDim/2), or (2m, 2m + 1) interleaved.
 */
function rotated(o: ResolvedOptions, u: FloatArray, offset: number, position: number): Float64Array {
  const out = Float64Array.from(u.subarray(offset, offset + o.headDim));
  if (o.invFreq === null) return out;
  const half = o.ropeDim / 2;
  for (let m = 0; m < half; m++) {
    const theta = position * o.invFreq[m]!;
    const [first, second] = o.ropeStyle === 'interleaved' ? [2 * m, 2 * m + 1] : [m, m + half];
    const a = out[first]!;
    const b = out[second]!;
    out[first] = a * Math.cos(theta) - b * Math.sin(theta);
    out[second] = b * Math.cos(theta) + a * Math.sin(theta);
  }
  return out;
}
