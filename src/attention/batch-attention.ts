import { AttentionError, describeValue } from '../errors.js';
import type { FloatArray } from '../kernels/index.js';
import { assertProjects, resolveOptions } from './options.js';
import type { AttentionOptions, ResolvedOptions } from './options.js';
import type { AttentionStep } from './step.js';
import { scoreOverflow } from './step.js';
import { assertFinite, readVector, rowsOf } from './vector.js';
import type { Vector, VectorRows } from './vector.js';

/**
 * Attention over a whole sequence at once: every score, the mask, a max-subtracted softmax and the
 * weighted sum, in plain loops that follow the formulas. It is the readable twin the incremental
 * engine is checked against, and returns what pushing `xs` one by one and then flushing returns.
 * `xs` is a list of vectors, or the rows one after another in one typed array ({@link VectorRows}).
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
export function batchAttention(given: VectorRows, options: AttentionOptions): AttentionStep[] {
  const o = resolveOptions(options);
  assertProjects(o, 'batchAttention');
  const xs = rowsOf(given, o.dim, 'batchAttention', 'xs');
  if (!Array.isArray(xs)) throw new AttentionError('INVALID_ARGUMENT', `batchAttention: expected an array of vectors, got ${describeValue(xs)}`, { field: 'xs' });
  const { heads, kvHeads, headDim } = o;
  const q: FloatArray[] = [];
  const keys: Float64Array[] = [];
  const v: FloatArray[] = [];
  const x = new Float64Array(o.dim);
  for (let i = 0; i < xs.length; i++) {
    readVector(xs[i]!, o.dim, x, 0, 'x', i, undefined, o.precision === 'float32');
    q.push(linear(o, o.weights?.wq ?? null, o.weights?.bq ?? null, x, heads * headDim));
    const k = linear(o, o.weights?.wk ?? null, o.weights?.bk ?? null, x, kvHeads * headDim);
    v.push(linear(o, o.weights?.wv ?? null, o.weights?.bv ?? null, x, kvHeads * headDim));
    assertFinite(q[i]!, heads * headDim, 'projected query', i);
    assertFinite(k, kvHeads * headDim, 'projected key', i);
    assertFinite(v[i]!, kvHeads * headDim, 'projected value', i);
    keys.push(rotatedKey(o, k, i));
  }
  return attendRows(o, q, keys, v);
}

/**
 * {@link batchAttention} for model code that projects by itself (QK-norm models): row i of `qs`
 * (heads·headDim numbers), `ks` and `vs` (kvHeads·headDim) as `pushQKV(qs[i], ks[i], vs[i])` takes
 * them (each a list, or its rows flat: {@link VectorRows}), stored in the precision; returns what those pushes and a flush return. The options are an
 * engine's for pushQKV: `weights` without wq, wk and wv (`{ wo }` or `{}`), or seed mode.
 *
 * @throws AttentionError INVALID_ARGUMENT when one is not an array; DIMENSION_MISMATCH for arrays
 *   of different lengths or a row of the wrong length (naming its token); NON_FINITE as pushQKV;
 *   INVALID_ARGUMENT for options that project inputs (wq, wk, wv), which pushQKV would not use.
 * @example
 * ```ts
 * import { batchAttentionQKV, createAttention } from 'attnstream';
 * const options = { dim: 2, heads: 1, precision: 'float64' as const, weights: {} };
 * const qs = [[1, 0], [0, 1]], ks = [[1, 1], [0, 1]], vs = [[2, 0], [0, 2]];
 * const engine = createAttention(options);
 * const pushed = qs.map((q, i) => engine.pushQKV(q, ks[i]!, vs[i]!)[0]!.output);
 * console.log(batchAttentionQKV(qs, ks, vs, options)[1]!.output, pushed[1]); // the same numbers
 * ```
 */
export function batchAttentionQKV(givenQs: VectorRows, givenKs: VectorRows, givenVs: VectorRows, options: AttentionOptions): AttentionStep[] {
  const o = resolveOptions(options);
  if (o.projectsInputs) {
    throw new AttentionError('INVALID_ARGUMENT', 'batchAttentionQKV: these options project inputs with wq, wk and wv, which q, k and v rows skip; leave them out (weights: { wo } or {}), or use batchAttention with inputs x', { field: 'options' });
  }
  const qWidth = o.heads * o.headDim;
  const kvWidth = o.kvHeads * o.headDim;
  const qs = rowsOf(givenQs, qWidth, 'batchAttentionQKV', 'qs');
  const ks = rowsOf(givenKs, kvWidth, 'batchAttentionQKV', 'ks');
  const vs = rowsOf(givenVs, kvWidth, 'batchAttentionQKV', 'vs');
  const lists = { qs, ks, vs };
  for (const [field, list] of Object.entries(lists)) {
    if (!Array.isArray(list)) throw new AttentionError('INVALID_ARGUMENT', `batchAttentionQKV: expected ${field} to be an array of vectors, got ${describeValue(list)}`, { field });
  }
  if (ks.length !== qs.length || vs.length !== qs.length) {
    throw new AttentionError('DIMENSION_MISMATCH', `batchAttentionQKV: qs, ks and vs hold ${qs.length}, ${ks.length} and ${vs.length} rows; a token is one of each`, {
      field: ks.length !== qs.length ? 'ks' : 'vs',
      expected: qs.length,
      actual: ks.length !== qs.length ? ks.length : vs.length,
    });
  }
  const row = (given: Vector, width: number, field: string, i: number): FloatArray => {
    const read = new Float64Array(width);
    readVector(given, width, read, 0, field, i, undefined, o.precision === 'float32');
    return o.Float.from(read);
  };
  const q: FloatArray[] = [];
  const keys: Float64Array[] = [];
  const v: FloatArray[] = [];
  // Token by token, each read whole before its key turns, as pushQKV reads them: the first refusal
  // is the one its pushes would meet first.
  for (let i = 0; i < qs.length; i++) {
    q.push(row(qs[i]!, qWidth, 'q', i));
    const k = row(ks[i]!, kvWidth, 'k', i);
    v.push(row(vs[i]!, kvWidth, 'v', i));
    keys.push(rotatedKey(o, k, i));
  }
  return attendRows(o, q, keys, v);
}

/**
 * Token i's key rotated by its stream index, as the engine caches it (without RoPE, as it is);
 * in the engine's precision a key whose rotation overflows is refused, as a push refuses it.
 */
function rotatedKey(o: ResolvedOptions, k: FloatArray, i: number): Float64Array {
  const { kvHeads, headDim } = o;
  const key = new Float64Array(kvHeads * headDim);
  for (let g = 0; g < kvHeads; g++) key.set(rotated(o, k, g * headDim, i), g * headDim);
  if (o.invFreq !== null) assertFinite(o.Float.from(key), kvHeads * headDim, 'rotated key', i);
  return key;
}

/** Every query over its keys (rotated: {@link rotatedKey}), from rows in the precision: the batch steps. */
function attendRows(o: ResolvedOptions, q: readonly FloatArray[], rotatedKeys: readonly Float64Array[], v: readonly FloatArray[]): AttentionStep[] {
  const n = q.length;
  const { heads, kvHeads, headDim } = o;
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
      if (!Number.isFinite(max + Math.log(sum))) throw scoreOverflow(i, h);
      const alpha = exps.map((e) => e / sum);
      attended.forEach((j, rank) => {
        for (let c = 0; c < headDim; c++) concat[h * headDim + c] = concat[h * headDim + c]! + alpha[rank]! * v[j]![g * headDim + c]!;
      });
      weights.push(o.Float.from(alpha));
    }
    const wo = o.weights?.wo ?? null;
    const output = wo === null ? o.Float.from(concat) : linear(o, wo, o.weights!.bo, concat, o.dim);
    assertFinite(output, o.outputDim, 'output', i);
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
