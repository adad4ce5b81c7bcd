import { alibiSlopes, resolveOptions } from '../../src/index.js';
import type { AttentionOptions, AttentionStep, ResolvedOptions, Vector } from '../../src/index.js';
import { addBias, matMatTransposed, ropeRotate } from '../../src/kernels/index.js';

/**
 * The bugs a naive engine can be built with, each a one-line change that real attention kernels
 * have shipped with.
 */
export type Bug =
  /** exp(s) / Σ exp(s): overflows to ∞/∞ = NaN once scores pass ≈709. */
  | 'softmax-without-max'
  /** Query i attends keys j < i + lookahead: the newest key is left out. */
  | 'causal-off-by-one'
  /** Query head h reads kv head h mod kvHeads instead of ⌊h / (heads/kvHeads)⌋. */
  | 'gqa-head-mapping'
  /** Values are rotated like keys. */
  | 'rope-on-values'
  /** The window keeps i − W too: W + 1 keys. */
  | 'window-too-wide'
  /** Scores are multiplied by the scale twice. */
  | 'scale-twice'
  /** fork() hands out the same token list instead of a copy. */
  | 'fork-shares-cache'
  /** truncate(n) forgets to roll back which outputs were already returned. */
  | 'truncate-keeps-emitted'
  /** restore() forgets which outputs were already returned, and returns them again. */
  | 'restore-forgets-emitted';

/** What {@link NaiveAttention.snapshot} returns: plain data, as if it had been serialized. */
export interface NaiveSnapshot {
  readonly tokens: readonly { readonly q: number[]; readonly k: number[]; readonly v: number[] }[];
  readonly emitted: number;
}

interface Token {
  readonly q: Float64Array;
  /** Rotated to its stream index when RoPE is absolute; as projected otherwise. */
  readonly k: Float64Array;
  readonly v: Float64Array;
}

/**
 * A deliberately plain incremental engine for the kit's own tests: every token's q, k and v in an
 * array, attention recomputed from them on each output. Correct with `bug` null; each {@link Bug}
 * breaks exactly one thing.
 */
export function naiveAttention(options: AttentionOptions, bug: Bug | null = null): NaiveAttention {
  return new NaiveAttention(resolveOptions(options), bug, [], 0);
}

export class NaiveAttention {
  constructor(
    private readonly o: ResolvedOptions,
    private readonly bug: Bug | null,
    private tokens: Token[],
    /** Outputs of tokens [0, emitted) were returned. */
    private emitted: number,
  ) {}

  get length(): number {
    return this.tokens.length;
  }

  push(x: Vector): AttentionStep[] {
    const o = this.o;
    const t = this.tokens.length;
    const input = Float64Array.from(x);
    const project = (w: ArrayLike<number> | undefined, b: ArrayLike<number> | null, rows: number): Float64Array => {
      if (w === undefined) return input.slice();
      const y = new Float64Array(rows);
      matMatTransposed(y, input, Float64Array.from(w), 1, rows, o.dim);
      if (b !== null) addBias(y, Float64Array.from(b), 1);
      return y;
    };
    const token = {
      q: project(o.weights?.wq ?? undefined, o.weights?.bq ?? null, o.heads * o.headDim),
      k: project(o.weights?.wk ?? undefined, o.weights?.bk ?? null, o.kvHeads * o.headDim),
      v: project(o.weights?.wv ?? undefined, o.weights?.bv ?? null, o.kvHeads * o.headDim),
    };
    if (o.invFreq !== null && o.ropePositions === 'absolute') {
      for (let g = 0; g < o.kvHeads; g++) {
        ropeRotate(token.k, g * o.headDim, t, o.invFreq, o.ropeStyle === 'interleaved');
        if (this.bug === 'rope-on-values') ropeRotate(token.v, g * o.headDim, t, o.invFreq, o.ropeStyle === 'interleaved');
      }
    }
    this.tokens.push(token);
    const steps: AttentionStep[] = [];
    while (this.emitted + o.lookahead <= t) steps.push(this.attend(this.emitted++));
    return steps;
  }

  flush(): AttentionStep[] {
    const steps: AttentionStep[] = [];
    while (this.emitted < this.tokens.length) steps.push(this.attend(this.emitted++));
    return steps;
  }

  fork(): NaiveAttention {
    return new NaiveAttention(this.o, this.bug, this.bug === 'fork-shares-cache' ? this.tokens : [...this.tokens], this.emitted);
  }

  snapshot(): NaiveSnapshot {
    return { tokens: this.tokens.map(({ q, k, v }) => ({ q: Array.from(q), k: Array.from(k), v: Array.from(v) })), emitted: this.emitted };
  }

  /** The engine `snapshot` was taken of, rebuilt for `options`. */
  static restore(snapshot: NaiveSnapshot, options: AttentionOptions, bug: Bug | null = null): NaiveAttention {
    const tokens = snapshot.tokens.map(({ q, k, v }) => ({ q: Float64Array.from(q), k: Float64Array.from(k), v: Float64Array.from(v) }));
    return new NaiveAttention(resolveOptions(options), bug, tokens, bug === 'restore-forgets-emitted' ? 0 : snapshot.emitted);
  }

  truncate(n: number): void {
    this.tokens = this.tokens.slice(0, n);
    if (this.bug !== 'truncate-keeps-emitted') this.emitted = Math.max(0, n - this.o.lookahead);
  }

  private attend(i: number): AttentionStep {
    const o = this.o;
    const { heads, kvHeads, headDim } = o;
    const newest = Math.min(i + o.lookahead, this.tokens.length - 1) - (this.bug === 'causal-off-by-one' ? 1 : 0);
    const oldest = i - o.window + (this.bug === 'window-too-wide' ? 0 : 1);
    const keys: number[] = [];
    for (let j = 0; j <= newest; j++) if (j >= oldest || j < o.sinks) keys.push(j);
    const byRank = o.ropePositions === 'cache';
    const slopes = o.positions === 'alibi' ? alibiSlopes(heads) : null;
    const concat = new Float64Array(heads * headDim);
    const weights: Float64Array[] = [];
    for (let h = 0; h < heads; h++) {
      const g = this.bug === 'gqa-head-mapping' ? h % kvHeads : Math.floor(h / o.groupSize);
      const q = this.tokens[i]!.q.slice(h * headDim, (h + 1) * headDim);
      if (o.invFreq !== null) ropeRotate(q, 0, byRank ? keys.filter((j) => j < i).length : i, o.invFreq, o.ropeStyle === 'interleaved');
      const scores = keys.map((j, rank) => {
        const k = this.tokens[j]!.k.slice(g * headDim, (g + 1) * headDim);
        if (o.invFreq !== null && byRank) ropeRotate(k, 0, rank, o.invFreq, o.ropeStyle === 'interleaved');
        let s = 0;
        for (let c = 0; c < headDim; c++) s += q[c]! * k[c]!;
        s *= this.bug === 'scale-twice' ? o.scale * o.scale : o.scale;
        return s - (slopes === null ? 0 : slopes[h]! * Math.abs(i - j));
      });
      const alpha = this.softmax(scores);
      keys.forEach((j, rank) => {
        const v = this.tokens[j]!.v.slice(g * headDim, (g + 1) * headDim);
        if (this.bug === 'rope-on-values' && o.invFreq !== null && byRank) ropeRotate(v, 0, rank, o.invFreq, o.ropeStyle === 'interleaved');
        for (let c = 0; c < headDim; c++) concat[h * headDim + c] = concat[h * headDim + c]! + alpha[rank]! * v[c]!;
      });
      weights.push(alpha);
    }
    let output = concat;
    if (o.weights?.wo) {
      output = new Float64Array(o.dim);
      matMatTransposed(output, concat, Float64Array.from(o.weights.wo), 1, o.dim, heads * headDim);
      if (o.weights.bo !== null) addBias(output, Float64Array.from(o.weights.bo), 1);
    }
    return o.withWeights ? { index: i, output, positions: Int32Array.from(keys), weights } : { index: i, output };
  }

  private softmax(scores: readonly number[]): Float64Array {
    const max = this.bug === 'softmax-without-max' ? 0 : Math.max(...scores);
    const exps = scores.map((s) => Math.exp(s - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    return Float64Array.from(exps, (e) => e / sum);
  }
}
