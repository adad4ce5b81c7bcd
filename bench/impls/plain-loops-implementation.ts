import { SEED_KEY, SEED_QUERY, SEED_VALUE, streamInputs, tokenRow } from '../data.js';
import type { Cell, CellData, DecodeImplementation, StepTimes, StreamTime } from './decode-implementation.js';

/**
 * `out[h·D …] = softmax(scale · K_h q_h) · V_h` over tokens `[0, length)` of a token-major cache
 * (`keys[(t·H + h)·D + d]`), with
 * `scores` (≥ length) and `acc` (headDim) as scratch: the textbook loops, no unrolling, no paging, no checks.
 */
export function plainAttention(
  out: Float32Array,
  q: Float32Array,
  keys: Float32Array,
  values: Float32Array,
  length: number,
  heads: number,
  headDim: number,
  scores: Float64Array,
  acc: Float64Array,
): void {
  const width = heads * headDim;
  const scale = 1 / Math.sqrt(headDim);
  for (let h = 0; h < heads; h++) {
    let max = -Infinity;
    for (let t = 0; t < length; t++) {
      let s = 0;
      for (let d = 0; d < headDim; d++) s += q[h * headDim + d]! * keys[t * width + h * headDim + d]!;
      s *= scale;
      scores[t] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let t = 0; t < length; t++) {
      const e = Math.exp(scores[t]! - max);
      scores[t] = e;
      sum += e;
    }
    acc.fill(0);
    for (let t = 0; t < length; t++) {
      const w = scores[t]!;
      for (let d = 0; d < headDim; d++) acc[d] = acc[d]! + w * values[t * width + h * headDim + d]!;
    }
    for (let d = 0; d < headDim; d++) out[h * headDim + d] = acc[d]! / sum;
  }
}

/**
 * The plain-JavaScript baseline: a flat token-major cache and {@link plainAttention}. It shares the
 * cell's key and value rows (tokens 0 … n) as its cache, writing token n into slot n on each step.
 */
export function plainLoopsImplementation(cellData: CellData): DecodeImplementation {
  let cell: Cell | null = null;
  let keys: Float32Array = new Float32Array(0);
  let values: Float32Array = new Float32Array(0);
  let q: Float32Array = new Float32Array(0);
  let k: Float32Array = new Float32Array(0);
  let v: Float32Array = new Float32Array(0);
  let scores = new Float64Array(0);
  let acc = new Float64Array(0);
  return {
    id: 'plain-js',
    label: 'plain JavaScript loops (flat cache)',
    async setup(c: Cell) {
      cell = c;
      ({ keys, values } = cellData(c));
      const width = c.heads * c.headDim;
      q = tokenRow(new Float32Array(width), SEED_QUERY, c.n, width);
      k = tokenRow(new Float32Array(width), SEED_KEY, c.n, width);
      v = tokenRow(new Float32Array(width), SEED_VALUE, c.n, width);
      scores = new Float64Array(c.n + 1);
      acc = new Float64Array(c.headDim);
    },
    async steps(count: number): Promise<StepTimes> {
      const { heads, headDim, n } = cell!;
      const width = heads * headDim;
      const out = new Float32Array(width);
      const times: number[] = [];
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        keys.set(k, n * width);
        values.set(v, n * width);
        plainAttention(out, q, keys, values, n + 1, heads, headDim, scores, acc);
        times.push((performance.now() - t0) * 1000);
      }
      return { times, output: out };
    },
    async teardown() {
      keys = values = new Float32Array(0);
      cell = null;
    },
    async stream(heads: number, headDim: number, tokens: number): Promise<StreamTime> {
      const width = heads * headDim;
      const inputs = streamInputs(tokens, width);
      const { row } = inputs;
      const cacheKeys = new Float32Array(tokens * width);
      const cacheValues = new Float32Array(tokens * width);
      const s = new Float64Array(tokens);
      const a = new Float64Array(headDim);
      const out = new Float32Array(width);
      const t0 = performance.now();
      for (let t = 0; t < tokens; t++) {
        cacheKeys.set(row(inputs.keys, t), t * width);
        cacheValues.set(row(inputs.values, t), t * width);
        plainAttention(out, row(inputs.queries, t), cacheKeys, cacheValues, t + 1, heads, headDim, s, a);
      }
      return { seconds: (performance.now() - t0) / 1000, output: out };
    },
    async close() {},
  };
}
