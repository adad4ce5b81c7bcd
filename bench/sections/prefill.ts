import { createAttention } from '../../src/index.js';
import type { AttentionOptions } from '../../src/index.js';
import { SEED_WK, SEED_WO, SEED_WQ, SEED_WV, embeddings, weightMatrix } from '../data.js';
import { interleave, timed } from '../interleave.js';
import type { Profile } from '../profile.js';
import { multiplyAddPeak } from './multiply-add-peak.js';
import type { Progress } from '../progress.js';
import { pairedRatios, relativeError, summarize } from '../stats.js';
import type { Summary } from '../stats.js';

/** One model width's prefill. */
export interface PrefillRow {
  readonly dim: number;
  readonly heads: number;
  /** MB of float32 projection matrices (wq, wk, wv, wo) a single push reads. */
  readonly weightMB: number;
  /** µs per token. */
  readonly single: Summary;
  readonly many: Summary;
  /**
   * µs per token of the prompt's attention alone: an engine without weights fed the same rows as
   * q, k and v through pushQKV, one by one. Both paths spend this besides projecting.
   */
  readonly attention: Summary;
  /** single ÷ many, per round: how many times cheaper a prompt token is. */
  readonly ratio: Summary;
  /**
   * µs per prompt token at the machine's multiply-add peak: its multiply-adds (four dim × dim
   * projections, and a query's scores and weighted values over the keys before it, on average)
   * over {@link PrefillResult.peakGmacs}. No pushMany can cost less, so the single push's median
   * over this bounds the ratio this machine allows.
   */
  readonly floor: number;
  /** Relative max difference between the two paths' last outputs. */
  readonly error: number;
}

export interface PrefillResult {
  readonly tokens: number;
  readonly headDim: number;
  /** The float32 multiply-add rate no kernel here exceeds, GMAC/s ({@link multiplyAddPeak}). */
  readonly peakGmacs: number;
  /** One row per entry of the profile's `heads`, in its order (dim = heads·headDim). */
  readonly rows: PrefillRow[];
}

/** The largest push ÷ pushMany ratio the machine allows at `row`'s width: the single push's median over the floor. */
export function ceiling(row: PrefillRow): number {
  return row.single.median / row.floor;
}

/** Options of an engine with all four projections: dim = H·D, weights from bench/data.ts. */
export function projectedOptions(heads: number, headDim: number, withOutput: boolean): AttentionOptions {
  const dim = heads * headDim;
  const weights = {
    wq: weightMatrix(SEED_WQ, dim, dim),
    wk: weightMatrix(SEED_WK, dim, dim),
    wv: weightMatrix(SEED_WV, dim, dim),
    ...(withOutput ? { wo: weightMatrix(SEED_WO, dim, dim) } : {}),
  };
  return { dim, heads, headDim, weights };
}

/** MB of the four float32 dim × dim projection matrices (wq, wk, wv, wo): what a single push reads. */
export function projectionMB(dim: number): number {
  return (4 * 4 * dim * dim) / 2 ** 20;
}

/**
 * Prompt prefill with projections, at each model width of the profile: a fresh engine takes the
 * prompt by pushMany(xs), or by one push per token; interleaved runs, µs per token.
 */
export async function runPrefill(profile: Profile, progress: Progress): Promise<PrefillResult> {
  const { heads, headDim, tokens, rounds } = profile.prefill;
  progress.plan(3 * rounds * heads.length);
  const peakGmacs = await multiplyAddPeak();
  const rows = heads.map((h) => prefillRow(h, headDim, tokens, rounds, peakGmacs, progress));
  return { tokens, headDim, peakGmacs, rows };
}

/** Multiply-adds per token of a `tokens`-token prompt: 4·dim² projecting, and 2·H·D per key for the (tokens + 1) / 2 keys a query sees on average. */
function promptMultiplyAdds(heads: number, headDim: number, tokens: number): number {
  const dim = heads * headDim;
  return 4 * dim * dim + heads * headDim * (tokens + 1);
}

function prefillRow(heads: number, headDim: number, tokens: number, rounds: number, peakGmacs: number, progress: Progress): PrefillRow {
  const options = projectedOptions(heads, headDim, true);
  const xs = embeddings(tokens, options.dim);
  const rows = xs.map((x) => Float32Array.from(x));
  let lastSingle: ArrayLike<number> = [];
  let lastMany: ArrayLike<number> = [];
  const seconds = interleave(
    [
      {
        id: 'single',
        run: () => {
          const engine = createAttention(options);
          const s = timed(() => {
            for (const x of xs) lastSingle = engine.push(x)[0]!.output;
          });
          engine.dispose();
          return s;
        },
      },
      {
        id: 'many',
        run: () => {
          const engine = createAttention(options);
          const s = timed(() => {
            lastMany = engine.pushMany(xs).at(-1)!.output;
          });
          engine.dispose();
          return s;
        },
      },
      {
        id: 'attention',
        run: () => {
          const engine = createAttention({ dim: options.dim, heads, headDim });
          const s = timed(() => {
            for (const row of rows) engine.pushQKV(row, row, row);
          });
          engine.dispose();
          return s;
        },
      },
    ],
    rounds,
    (id) => progress.tick(`prefill ${tokens} tokens at dim ${options.dim} · ${id === 'many' ? 'pushMany' : id === 'single' ? 'push' : 'attention alone'}`),
  );
  const perToken = (id: string) => summarize(seconds.get(id)!.map((s) => (s / tokens) * 1e6));
  return {
    dim: options.dim,
    heads,
    weightMB: projectionMB(options.dim),
    single: perToken('single'),
    many: perToken('many'),
    attention: perToken('attention'),
    ratio: pairedRatios(seconds.get('single')!, seconds.get('many')!),
    floor: promptMultiplyAdds(heads, headDim, tokens) / (peakGmacs * 1e3),
    error: relativeError(lastMany, lastSingle),
  };
}
