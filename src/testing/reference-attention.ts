import { resolveOptions } from '../attention/index.js';
import type { AttentionOptions, AttentionStep, ResolvedOptions, Vector } from '../attention/index.js';
import { vectorLength } from '../attention/vector.js';
import { AttentionError, describeValue, shownValue } from '../errors.js';
import { inputProjections } from './internal/input-projections.js';
import { multiply } from './internal/multiply.js';

/**
 * Attention computed the slow, obvious way, in float64: the oracle every check in this kit compares
 * against. It shares no arithmetic with the engine or with `batchAttention` (only
 * `resolveOptions`, for validation and defaults), so a bug in either cannot hide in both.
 *
 * For each query i, in plain loops:
 * 1. project: `q = Wq·x + bq`, `k = Wk·x + bk`, `v = Wv·x + bv` with the caller's own float64
 *    weights and biases (a bias not given is zero; seed mode: q = k = v = x), rounded to bfloat16
 *    or binary16 first when `weightsDtype` says they are stored so (by the kit's own rounding);
 * 2. mask: key j is attended when `j ≤ i + lookahead`, `j < n`, and, with a window W and S sinks,
 *    `i − W < j` or `j < S`;
 * 3. score each attended key with query head h against kv head `⌊h / (heads/kvHeads)⌋`:
 *    `scale · rope(q_h, p_i) · rope(k_g, p_j) − m_h·|i − j|`, where RoPE (rotate-half or
 *    interleaved pairs over the first `ropeDim` numbers of a head) uses stream
 *    indices, or with `ropePositions: 'cache'` ranks among the attended keys (sinks first, then the
 *    window; the query's own rank for p_i), and `m_h` are the ALiBi slopes of Press et al.;
 * 4. softmax by the log-sum-exp identity, `α_j = exp(s_j − max) / Σ exp(s − max)`, finite and
 *    normalized for any finite scores; a head's learned sink logit (`sinkLogits`) joins the sum as
 *    one more score, so the keys' weights then sum to less than 1;
 * 5. mix the values head by head, concatenate, and apply `wo` (and `bo`) when given.
 *
 * Steps come back as `batchAttention` returns them: one per token, in order; positions and weights
 * (one float64 array per query head, aligned with the positions) only with `withWeights`. The
 * result is what an incremental engine returns from pushing `xs` one by one and then flushing.
 *
 * @throws AttentionError as the core does: INVALID_OPTION, DIMENSION_MISMATCH or NON_FINITE for
 *   bad options, INVALID_ARGUMENT, DIMENSION_MISMATCH or NON_FINITE (with the token) for bad inputs.
 * @example
 * ```ts
 * import { referenceAttention } from 'attnstream/testing';
 * const steps = referenceAttention([[1, 0], [0, 1]], { dim: 2, withWeights: true });
 * console.log(steps[1]!.weights![0]); // Float64Array [0.2689…, 0.7310…]: softmax of scores 0 and 1
 * ```
 */
export function referenceAttention(xs: readonly Vector[], options: AttentionOptions): AttentionStep[] {
  const { steps } = traceReference(xs, options);
  return resolveOptions(options).withWeights ? steps : steps.map(({ index, output }) => ({ index, output }));
}

/** The steps of {@link traceReference} and their log-weights: what the error bounds are made of. */
export interface ReferenceTrace {
  /** One per token, always with positions and weights. */
  readonly steps: AttentionStep[];
  /**
   * Per token, per query head, aligned with the positions: `log α_j = s_j − max − log Σ exp(s − max)`,
   * finite where `α_j` itself underflows to 0.
   */
  readonly logWeights: Float64Array[][];
  /** Per token, per query head: the log-weight of the learned sink logit; −∞ without `sinkLogits`. */
  readonly sinkLogWeights: Float64Array[];
}

/** {@link referenceAttention} with positions, weights and log-weights: internal to the kit, for the error bounds. */
export function traceReference(xs: readonly Vector[], options: AttentionOptions): ReferenceTrace {
  const o = resolveOptions(options);
  const { dim, heads, kvHeads, headDim } = o;
  // The caller's numbers (as the options store them: inputProjections), not resolveOptions' copies, which are rounded to the engine's precision.
  const w = inputProjections(options) ?? undefined;
  if (!Array.isArray(xs)) throw new AttentionError('INVALID_ARGUMENT', `referenceAttention: expected an array of vectors, got ${describeValue(xs)}`, { field: 'xs' });
  const tokens = Array.from(xs, (x, t) => checkedToken(x, dim, t, o.precision === 'float32'));
  const q = tokens.map((x) => (w === undefined ? x : multiply(w.wq, x, heads * headDim, w.bq)));
  const k = tokens.map((x) => (w === undefined ? x : multiply(w.wk, x, kvHeads * headDim, w.bk)));
  const v = tokens.map((x) => (w === undefined ? x : multiply(w.wv, x, kvHeads * headDim, w.bv)));
  const slopes = o.positions === 'alibi' ? pressSlopes(heads) : null;

  const steps: AttentionStep[] = [];
  const logWeights: Float64Array[][] = [];
  const sinkLogWeights: Float64Array[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const attended: number[] = [];
    for (let j = 0; j < tokens.length; j++) if (isAttended(o, i, j)) attended.push(j);
    const concat = new Float64Array(heads * headDim);
    const headWeights: Float64Array[] = [];
    const headLogWeights: Float64Array[] = [];
    const sinkLog = new Float64Array(heads).fill(-Infinity);
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / (heads / kvHeads));
      const scores = attended.map((j, rank) => {
        const byRank = o.ropePositions === 'cache';
        const qh = rope(o, q[i]!.slice(h * headDim, (h + 1) * headDim), byRank ? attended.indexOf(i) : i);
        const kg = rope(o, k[j]!.slice(g * headDim, (g + 1) * headDim), byRank ? rank : j);
        let s = 0;
        for (let c = 0; c < headDim; c++) s += qh[c]! * kg[c]!;
        const score = s * o.scale - (slopes === null ? 0 : slopes[h]! * Math.abs(i - j));
        return options.scoreCap === undefined ? score : options.scoreCap * Math.tanh(score / options.scoreCap);
      });
      const sink = o.sinkLogits === null ? null : o.sinkLogits[h]!;
      const { weights: alpha, logWeights: logAlpha, sinkLogWeight } = softmax(scores, sink);
      sinkLog[h] = sinkLogWeight;
      attended.forEach((j, rank) => {
        for (let c = 0; c < headDim; c++) concat[h * headDim + c]! += alpha[rank]! * v[j]![g * headDim + c]!;
      });
      headWeights.push(alpha);
      headLogWeights.push(logAlpha);
    }
    const output = w?.wo === undefined ? concat : multiply(w.wo, concat, dim, w.bo);
    steps.push({ index: i, output, positions: Int32Array.from(attended), weights: headWeights });
    logWeights.push(headLogWeights);
    sinkLogWeights.push(sinkLog);
  }
  return { steps, logWeights, sinkLogWeights };
}

function isAttended(o: ResolvedOptions, i: number, j: number): boolean {
  const causal = j <= i + o.lookahead;
  const inWindow = i - o.window < j;
  const isSink = j < o.sinks;
  return causal && (inWindow || isSink);
}

/** Rotate-half RoPE of one head slice to `position`: pairs (m, m + half) turn by `position · base^(−2m/headDim)`. */
function rope(o: ResolvedOptions, u: Float64Array, position: number): Float64Array {
  if (o.positions !== 'rope') return u;
  // The first ropeDim numbers turn, in pairs (m, m + ropeDim/2) or interleaved (2m, 2m + 1); the rest stay.
  const half = o.ropeDim / 2;
  const out = Float64Array.from(u);
  for (let m = 0; m < half; m++) {
    const angle = position * (o.ropeFrequencies?.[m] ?? Math.pow(o.ropeBase, (-2 * m) / o.ropeDim));
    const a = o.ropeStyle === 'interleaved' ? 2 * m : m;
    const b = o.ropeStyle === 'interleaved' ? 2 * m + 1 : m + half;
    out[a] = u[a]! * Math.cos(angle) - u[b]! * Math.sin(angle);
    out[b] = u[b]! * Math.cos(angle) + u[a]! * Math.sin(angle);
  }
  return out;
}

/**
 * Softmax by the log-sum-exp identity `α_j = exp(s_j − lse)`, `lse = max + log Σ exp(s − max)`,
 * evaluated as `exp(s_j − max) / Σ exp(s − max)`: every exponent is ≤ 0, so nothing overflows,
 * and unlike subtracting `lse` itself (rounded to u·|max|, 1e-8 at scores of 1e8) the division
 * keeps full relative precision. The log-weights `(s_j − max) − log Σ exp(s − max)` stay finite
 * where a weight underflows to 0 (the sum lies in [1, n + 1]). A `sink` logit is one more score
 * whose weight is not returned, only its log.
 */
function softmax(scores: readonly number[], sink: number | null): { weights: Float64Array; logWeights: Float64Array; sinkLogWeight: number } {
  const all = sink === null ? scores : [...scores, sink];
  const max = Math.max(...all);
  let sum = 0;
  for (const s of all) sum += Math.exp(s - max);
  return {
    weights: Float64Array.from(scores, (s) => Math.exp(s - max) / sum),
    logWeights: Float64Array.from(scores, (s) => s - max - Math.log(sum)),
    sinkLogWeight: sink === null ? -Infinity : sink - max - Math.log(sum),
  };
}

/**
 * ALiBi slopes as Press et al. compute them (`get_slopes` in their code): for a power of two n,
 * the geometric sequence starting at `2^(−8/n)` with that ratio; otherwise those of the power of
 * two below, then every other slope of the power of two above.
 */
function pressSlopes(heads: number): Float64Array {
  const geometric = (n: number): number[] => Array.from({ length: n }, (_, h) => Math.pow(2, -8 / n) ** (h + 1));
  const below = 2 ** Math.floor(Math.log2(heads));
  if (below === heads) return Float64Array.from(geometric(heads));
  const rest = geometric(2 * below).filter((_, n) => n % 2 === 0).slice(0, heads - below);
  return Float64Array.from([...geometric(below), ...rest]);
}

/**
 * `x` as the engine takes an input: `dim` numbers (not strings, booleans or null, which a typed
 * array would convert), each finite, and with `float32` within float32's range (±3.4e38).
 */
function checkedToken(x: Vector, dim: number, token: number, float32: boolean): Float64Array {
  const length = vectorLength(x);
  if (length === undefined) {
    throw new AttentionError('INVALID_ARGUMENT', `x at token ${token}: expected an array of ${dim} numbers`, { field: 'x', token, expected: dim });
  }
  if (length !== dim) {
    throw new AttentionError('DIMENSION_MISMATCH', `x at token ${token}: expected length ${dim}, got ${length}`, {
      field: 'x',
      token,
      expected: dim,
      actual: length,
    });
  }
  const out = new Float64Array(dim);
  let bad = -1;
  for (let i = 0; i < dim && bad < 0; i++) {
    const value: unknown = x[i];
    if (typeof value !== 'number' || !Number.isFinite(value) || (float32 && !Number.isFinite(Math.fround(value)))) bad = i;
    else out[i] = value;
  }
  if (bad >= 0) {
    const beyond = typeof x[bad] === 'number' && Number.isFinite(x[bad]);
    throw new AttentionError('NON_FINITE', `x at token ${token}: element ${bad} is ${describeValue(x[bad])}, ${beyond ? "beyond float32's range (±3.4e38) of precision 'float32'" : 'expected a finite number'}`, {
      field: 'x',
      token,
      element: bad,
      actual: shownValue(x[bad]),
    });
  }
  return out;
}
