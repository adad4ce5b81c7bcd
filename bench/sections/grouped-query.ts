import type { AttentionOptions } from '../../src/index.js';
import { engineOptions } from '../impls/attnstream-implementation.js';
import { restoredEngine } from '../impls/restored-engine.js';
import { stepsContender } from '../interleave.js';
import { interleaveSteps, stepRows, timedStep } from '../restored-step.js';
import type { Profile } from '../profile.js';
import type { Progress } from '../progress.js';
import { summarize } from '../stats.js';
import type { Summary } from '../stats.js';

export interface GroupedQueryRow {
  readonly kvHeads: number;
  /** Bytes of K and V the step reads: 2·kvHeads·D·(n+1)·4. */
  readonly cacheBytes: number;
  /** µs per step. */
  readonly micros: Summary;
}

export interface GroupedQueryResult {
  readonly heads: number;
  readonly headDim: number;
  readonly n: number;
  readonly rows: readonly GroupedQueryRow[];
}

/**
 * The decode step of H query heads over one long cache with kvHeads = H (multi-head) and with
 * fewer kv heads (grouped-query, as Llama-style decoders have): the same arithmetic over 1/group
 * of the cache, so the grouped step should cost about what reading its smaller cache does, not
 * what the multi-head one does. Interleaved rounds of steps, µs per step, default kernels.
 */
export function runGroupedQuery(profile: Profile, progress: Progress): GroupedQueryResult {
  const { heads, headDim, n, groups, rounds } = profile.groupedQuery;
  const width = heads * headDim;
  const contenders = groups.map((group) => {
    const kvHeads = heads / group;
    const kvWidth = kvHeads * headDim;
    // Grouped heads need projections; pushQKV leaves them unused, so zeros do.
    const weights = { wq: new Float32Array(width * width), wk: new Float32Array(kvWidth * width), wv: new Float32Array(kvWidth * width) };
    const options: AttentionOptions = { ...engineOptions(heads, headDim), kvHeads, weights };
    const rows = stepRows(width, kvWidth, n);
    const engine = restoredEngine(options, rows.keys, rows.values, n);
    return { ...stepsContender(String(kvHeads), () => timedStep(engine, rows, n), 500_000), kvHeads, engine };
  });
  const micros = interleaveSteps(contenders, rounds, progress, (id) => `grouped-query heads · kvHeads ${id}`);
  return {
    heads,
    headDim,
    n,
    rows: contenders.map((c) => ({ kvHeads: c.kvHeads, cacheBytes: 2 * c.kvHeads * headDim * (n + 1) * 4, micros: summarize(micros.get(c.id)!) })),
  };
}
