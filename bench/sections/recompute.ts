import { batchAttention, createAttention, createLinear } from '../../src/index.js';
import { embeddings } from '../data.js';
import { plainAttention } from '../impls/plain-loops-implementation.js';
import { timed } from '../interleave.js';
import type { Profile } from '../profile.js';
import type { Progress } from '../progress.js';
import { relativeError, summarize } from '../stats.js';
import type { Summary } from '../stats.js';
import { formatSeconds } from './grid.js';
import { projectedOptions } from './prefill.js';

/** One way to get token n's output, with µs per step, or why it was not run. */
export interface RecomputeEntry {
  readonly micros?: Summary;
  readonly error?: number;
  readonly skipped?: string;
}

export interface RecomputeRow {
  readonly n: number;
  /** push(x_n) on an engine holding x_0 … x_{n−1}: project one token, append, attend. */
  readonly incremental: RecomputeEntry;
  /** No cache, the library's way: batchAttention over x_0 … x_n, all n+1 outputs, keep the last. */
  readonly batch: RecomputeEntry;
  /** No cache, the least a cacheless step must do: project k and v of every prefix token (the engine's kernel, one product), attend one query. */
  readonly reproject: RecomputeEntry;
}

/**
 * Incremental decoding against recomputing the prefix, with projections (dim = H·D, no wo): the
 * cost of a step at length n each way. Interleaved per length; a way predicted (from the previous
 * length, quadratic for batch, linear for re-projection) to exceed the profile's per-step budget
 * is skipped.
 */
export function runRecompute(profile: Profile, progress: Progress): RecomputeRow[] {
  const { heads, headDim, lengths, maxStepSeconds } = profile.recompute;
  const options = projectedOptions(heads, headDim, false);
  const { dim } = options;
  const { wq, wk, wv } = options.weights! as { wq: Float32Array; wk: Float32Array; wv: Float32Array };
  const rows: RecomputeRow[] = [];
  let lastBatch: { n: number; seconds: number } | null = null;
  let lastReproject: { n: number; seconds: number } | null = null;
  progress.plan(lengths.length * 3);
  for (const n of lengths) {
    const xs = embeddings(n + 1, dim);
    const engine = createAttention(options);
    engine.pushMany(xs.slice(0, n));
    let incrementalOutput: ArrayLike<number> = [];
    const incremental = () =>
      timed(() => {
        incrementalOutput = engine.push(xs[n]!)[0]!.output;
      });
    const afterIncremental = () => engine.truncate(n);

    let batchOutput: ArrayLike<number> = [];
    const batch = () =>
      timed(() => {
        batchOutput = batchAttention(xs, options).at(-1)!.output;
      });

    const keys = new Float32Array((n + 1) * dim);
    const values = new Float32Array((n + 1) * dim);
    const q = new Float32Array(dim);
    const out = new Float32Array(dim);
    const scores = new Float64Array(n + 1);
    const acc = new Float64Array(headDim);
    // The projections on the library's own kernel (as the engine's), every prefix token as one
    // product: a cacheless step at its cheapest, so the ratio is the cache's, not the kernels'.
    const [projectQ, projectK, projectV] = [wq, wk, wv].map((weight) => createLinear({ rows: dim, cols: dim, weight }));
    const reproject = () =>
      timed(() => {
        projectK!.applyMany(xs, keys);
        projectV!.applyMany(xs, values);
        projectQ!.apply(xs[n]!, q);
        plainAttention(out, q, keys, values, n + 1, heads, headDim, scores, acc);
      });

    const predictBatch = lastBatch === null ? null : lastBatch.seconds * (n / lastBatch.n) ** 2;
    const predictReproject = lastReproject === null ? null : lastReproject.seconds * (n / lastReproject.n);
    const budget = (predicted: number | null): string | null =>
      predicted !== null && predicted > maxStepSeconds ? `~${formatSeconds(predicted)} per step predicted; over the ${maxStepSeconds} s budget` : null;
    const skipBatch = budget(predictBatch);
    const skipReproject = budget(predictReproject);

    // Size the rounds from one untimed call each (which also warms the JIT).
    progress.status(`recompute n=${n} · warm-up`);
    const first = { incremental: incremental(), batch: skipBatch === null ? batch() : 0, reproject: skipReproject === null ? reproject() : 0 };
    afterIncremental();
    const rounds = 3;
    const count = (seconds: number) => Math.max(1, Math.min(200, Math.round(0.5 / rounds / Math.max(seconds, 1e-6))));
    const samples = { incremental: [] as number[], batch: [] as number[], reproject: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      progress.status(`recompute n=${n} · round ${r + 1}/${rounds}`);
      for (let i = 0; i < count(first.incremental); i++) {
        samples.incremental.push(incremental());
        afterIncremental();
      }
      if (skipBatch === null) for (let i = 0; i < count(first.batch); i++) samples.batch.push(batch());
      if (skipReproject === null) for (let i = 0; i < count(first.reproject); i++) samples.reproject.push(reproject());
    }
    engine.dispose();
    for (const linear of [projectQ, projectK, projectV]) linear!.dispose();
    const entry = (s: number[], output: ArrayLike<number>, skipped: string | null): RecomputeEntry =>
      skipped !== null ? { skipped } : { micros: summarize(s.map((x) => x * 1e6)), error: relativeError(output, incrementalOutput) };
    const row = {
      n,
      incremental: entry(samples.incremental, incrementalOutput, null),
      batch: entry(samples.batch, batchOutput, skipBatch),
      reproject: entry(samples.reproject, out, skipReproject),
    };
    if (row.batch.micros) lastBatch = { n, seconds: row.batch.micros.median / 1e6 };
    if (row.reproject.micros) lastReproject = { n, seconds: row.reproject.micros.median / 1e6 };
    rows.push(row);
    for (let i = 0; i < 3; i++) progress.tick(`recompute n=${n}`);
  }
  return rows;
}
