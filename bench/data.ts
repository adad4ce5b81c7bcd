/**
 * The benchmark's inputs: a hash of a flat index, so every implementation (TypeScript here, C in
 * bench/c/attention.c, numpy in bench/py/attention.py) computes bit-identical numbers by itself
 * instead of receiving gigabytes through a pipe.
 *
 * Token t, head h, channel d has flat index `(t·H + h)·D + d`; queries, keys and values use seeds
 * 1, 2 and 3. Values lie in [−0.5, 0.5) and are exact float32 numbers.
 */
export const SEED_QUERY = 1;
export const SEED_KEY = 2;
export const SEED_VALUE = 3;

/** `value(seed, i)`: a murmur3-style finaliser of `i ^ seed·0x9E3779B9`, mapped to [−0.5, 0.5) as float32. */
export function value(seed: number, i: number): number {
  let u = (i ^ Math.imul(seed, 0x9e3779b9)) >>> 0;
  u = Math.imul(u ^ (u >>> 16), 0x85ebca6b) >>> 0;
  u = Math.imul(u ^ (u >>> 13), 0xc2b2ae35) >>> 0;
  u = (u ^ (u >>> 16)) >>> 0;
  return Math.fround(u / 4294967296 - 0.5);
}

/** `out[0 : width] = value(seed, t·width …)`: one token's row of width H·D numbers, `[h][d]`. */
export function tokenRow(out: Float32Array, seed: number, t: number, width: number): Float32Array {
  const base = t * width;
  for (let i = 0; i < width; i++) out[i] = value(seed, base + i);
  return out;
}

/** Tokens `[0, count)` of one seed, token-major: `[t][h][d]`, count·width numbers. */
export function tokenRows(seed: number, count: number, width: number): Float32Array {
  const out = new Float32Array(count * width);
  for (let i = 0; i < out.length; i++) out[i] = value(seed, i);
  return out;
}

/** Queries, keys and values of tokens 0 … tokens−1, token-major, for a stream from an empty cache. */
export interface StreamInputs {
  readonly queries: Float32Array;
  readonly keys: Float32Array;
  readonly values: Float32Array;
  /** Token t's row (a view) of one of the three. */
  row(rows: Float32Array, t: number): Float32Array;
}

export function streamInputs(tokens: number, width: number): StreamInputs {
  return {
    queries: tokenRows(SEED_QUERY, tokens, width),
    keys: tokenRows(SEED_KEY, tokens, width),
    values: tokenRows(SEED_VALUE, tokens, width),
    row: (rows, t) => rows.subarray(t * width, (t + 1) * width),
  };
}

/** Token-major rows `[t][h][d]` of tokens 0 … n−1 → head-major `[h][t][d]`, the layout of ONNX's past and of tfjs here. */
export function headMajor(rows: Float32Array, n: number, heads: number, headDim: number): Float32Array {
  const out = new Float32Array(n * heads * headDim);
  for (let t = 0; t < n; t++) {
    for (let h = 0; h < heads; h++) {
      out.set(rows.subarray((t * heads + h) * headDim, (t * heads + h + 1) * headDim), (h * n + t) * headDim);
    }
  }
  return out;
}

/** Seeds of the projection sections: weights and token embeddings. */
export const SEED_WQ = 4;
export const SEED_WK = 5;
export const SEED_WV = 6;
export const SEED_WO = 7;
export const SEED_X = 8;

/** A rows×cols row-major matrix of `value(seed, i)·2/√cols`, so `W·x` stays of order one. */
export function weightMatrix(seed: number, rows: number, cols: number): Float32Array {
  const out = tokenRows(seed, rows, cols);
  const scale = 2 / Math.sqrt(cols);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! * scale;
  return out;
}

/** `count` token embeddings of `dim` numbers, as separate vectors (what push and pushMany take). */
export function embeddings(count: number, dim: number): Float32Array[] {
  const all = tokenRows(SEED_X, count, dim);
  return Array.from({ length: count }, (_, t) => all.subarray(t * dim, (t + 1) * dim));
}
