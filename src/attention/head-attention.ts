import type { PagedKVCache } from '../cache/index.js';
import { VALUE_CHUNK, valueChunkAt } from '../cache/value-layout.js';
// Kernels are imported from their own modules: a re-export can cost a property lookup per call
// in transpiled builds, and these run once per key per head.
import { axpy } from '../kernels/axpy.js';
import { dot, dotTwo } from '../kernels/dot.js';
import type { FloatArray } from '../kernels/float-array.js';
import { RopeAngles, ropeRotateBy } from '../kernels/rope.js';
import { softmaxInPlace } from '../kernels/softmax.js';
import { StepJob } from '../kernels/wasm/step-job.js';
import type { WasmArena } from '../kernels/wasm/wasm-arena.js';
import { sinkRank } from './attended-keys.js';
import type { AttendedKeys } from './attended-keys.js';
import type { ResolvedOptions } from './options.js';
import { scoreOverflow } from './step.js';
import { withinFloat32 } from './vector.js';

/**
 * When queries are attended together ({@link HeadAttention.computeTogether}). Mutable for
 * tests only: test/prompt-groups.test.ts lowers `fromBytes` so that small shapes group too.
 */
export const PROMPT_GROUPS = {
  /**
   * The keys and values a query reads, in bytes, from which its prompt's queries are grouped: a
   * group pays once they outgrow the caches; below, its queries' scratch (each one's scores and
   * exponentials) only crowds the L2 cache. Measured at 8 heads of 64, 128-token chunks after a
   * context of n, against each query alone: n = 2,048 (8 MB) 0.95–1.04x, 4,096 (16 MB) 1.03x,
   * 8,192 1.5x, 16,384 1.9x.
   */
  fromBytes: 16 << 20,
  /** The most queries in a group: 16 gained ~4 % over 8 at n = 16,384; 32 no more. */
  most: 16,
  /** Bytes of scratch a group may take: its queries' scores and exponentials, 12 a key per head each. */
  scratchBytes: 32 << 20,
};

/** One query of {@link HeadAttention.computeTogether}: the arguments of {@link HeadAttention.compute}. */
export interface HeadQuery {
  readonly i: number;
  readonly keys: AttendedKeys;
  readonly count: number;
  readonly qSource: FloatArray;
  readonly qOffset: number;
  readonly out: FloatArray;
  readonly weights: FloatArray[] | null;
}

/** A query and the head (an engine's) that attends it, for {@link HeadAttention.computeTogether}. */
export interface HeadPart {
  readonly head: HeadAttention;
  readonly query: HeadQuery;
}

/**
 * The head outputs of one query: every head's scores over the keys it attends, their softmax and
 * the weighted sum of the values, on the WebAssembly `attend` kernel when the step fits the
 * kernels' memory, else in the TypeScript loops. An engine keeps one, with the scratch both paths
 * reuse from step to step; what comes before (projecting, caching) and after (wo, the step's
 * positions) is the engine's.
 */
export class HeadAttention {
  /** The head outputs the TypeScript path sums into, and `compute`'s target when the engine has wo: heads × headDim. */
  readonly headOut: Float64Array;
  private readonly options: ResolvedOptions;
  private readonly cache: PagedKVCache;
  private readonly qHead: Float64Array;
  /** Head h's query rotated for the sinks, when RoPE 'cache' positions set it apart ({@link sinkRank}). */
  private readonly qSink: Float64Array;
  /** The angles queries are rotated by (their position's) and sink queries (their rank's): made once a step for every head. */
  private readonly queryAngles: RopeAngles | null;
  private readonly sinkAngles: RopeAngles | null;
  private readonly qScaled: Float64Array;
  private scores = new Float64Array(64);
  /** The step laid out for the SIMD kernels in their memory, or null on the TypeScript kernels. */
  private readonly job: StepJob | null;
  /** Its jobs by scratch slot ({@link HeadAttention.computeTogether}): {@link HeadAttention.job} (slot 0), then more as queries are attended together. */
  private readonly jobs: StepJob[];
  /**
   * Whether the step laid out last runs its items from the last down. Each step turns the last
   * one's order around (a prompt's queries attended together too, stretch by stretch), so it starts
   * on the heads that one ended on, still in the core's L2 cache: a group of queries all run one
   * way took ~4 % longer a query than one query at a time, over keys that fit the L3 cache.
   */
  private backward = false;

  /** `arena`: the kernels' memory the cache lives in, or null on the TypeScript kernels. */
  constructor(o: ResolvedOptions, cache: PagedKVCache, arena: WasmArena | null) {
    this.options = o;
    this.cache = cache;
    this.headOut = new Float64Array(o.heads * o.headDim);
    this.qHead = new Float64Array(o.headDim);
    this.qSink = new Float64Array(o.headDim);
    this.queryAngles = o.invFreq === null ? null : new RopeAngles(o.invFreq);
    this.sinkAngles = o.invFreq === null ? null : new RopeAngles(o.invFreq);
    this.qScaled = new Float64Array(o.headDim);
    this.job = arena === null ? null : new StepJob(arena, o.heads, o.headDim);
    this.jobs = this.job === null ? [] : [this.job];
  }

  /**
   * How many queries over about `count` keys each {@link HeadAttention.computeTogether} should be
   * given at once ({@link PROMPT_GROUPS}): on the SIMD kernels, over keys past the caches, as many
   * as the group's scratch allows; else 1: where attending together gains nothing (the TypeScript
   * kernels, keys the caches hold) or would change a number (an int8 cache turns a block's keys to
   * int8 when its last row comes in, so a query must be attended before the keys after it are cached).
   */
  promptGroupSize(count: number): number {
    const o = this.options;
    if (this.job === null || o.cacheDtype === 'int8' || 8 * o.kvHeads * o.headDim * count < PROMPT_GROUPS.fromBytes) return 1;
    return Math.max(1, Math.min(PROMPT_GROUPS.most, Math.floor(PROMPT_GROUPS.scratchBytes / (12 * o.heads * count))));
  }

  /**
   * Every part's head outputs (its head's query), exactly as each part's {@link HeadAttention.compute}
   * one after another gives them, with the keys they share read from memory once for all of them:
   * every part's step is laid out at once, part g in scratch slot g (its head's job there), and the
   * kernel runs one stretch of keys for each part in turn, so a stretch the first part read from
   * memory is still in the caches for the others. Past the caches (a cache of 8,192 tokens at 8
   * heads of 64 is 32 MB) each query otherwise reads every key and value from memory again: a
   * prompt's queries (one head), or beams forked from one prompt (a head each, sharing its blocks).
   * The heads share one arena (one engine, or forks of one); every query's keys must be cached
   * already, and each part's `out` must be its own.
   *
   * Returns one function per part, to be called in order, that finishes it: writes its outputs and
   * weights, or throws its refusal, as its compute would. Parts the kernels cannot take all
   * together (the TypeScript kernels, a block outside the arena, no room for the scratch) are each
   * computed alone by their function instead.
   */
  static computeTogether(parts: readonly HeadPart[]): (() => void)[] {
    // Each part runs the other way from the one before it (a prompt's parts, one head's, do so
    // anyway), so the keys one part ends on are the ones the next starts with.
    let backward: boolean | undefined;
    const laidOut = parts.length > 1 && parts.every(({ head, query: q }, g) => {
      const job = head.jobFor(g);
      const filled = job !== null && head.fillJob(job, q.i, q.keys, q.count, q.qSource, q.qOffset, backward === undefined ? undefined : !backward);
      backward = job?.backward;
      return filled;
    });
    if (!laidOut) return parts.map(({ head, query: q }) => () => head.compute(q.i, q.keys, q.count, q.qSource, q.qOffset, q.out, q.weights));
    const jobs = parts.map(({ head }, g) => head.jobFor(g)!);
    const bad = new Int32Array(parts.length).fill(-1);
    const stretches = Math.max(...jobs.map((job) => job.stretchCount));
    for (let s = 0; s < stretches; s++) {
      parts.forEach(({ head }, g) => {
        const job = jobs[g]!;
        // A part stops at its first overflow: it will run in the TypeScript loops.
        if (s < job.stretchCount && bad[g]! < 0) bad[g] = head.attendStretch(job, s);
      });
    }
    return parts.map(({ head, query: q }, g) => () => head.finish(jobs[g]!, bad[g]!, q.i, q.keys, q.count, q.qSource, q.qOffset, q.out, q.weights));
  }

  /** This head's job in scratch slot `slot` (made the first time), or null on the TypeScript kernels. */
  private jobFor(slot: number): StepJob | null {
    const { jobs, job } = this;
    if (job === null) return null;
    while (jobs.length <= slot) jobs.push(new StepJob(job.arena, this.options.heads, this.options.headDim, jobs.length));
    return jobs[slot]!;
  }

  /** Runs `job`'s items over stretch `s` (every head), on the pool when there is one; returns its lowest overflowing head, or -1. */
  private attendStretch(job: StepJob, s: number): number {
    const { heads, threads } = this.options;
    return threads !== null ? threads.attend(job.base, heads, job.backward, s * heads) : job.arena.attend(job.base, s * heads, (s + 1) * heads);
  }

  /**
   * Query `i`'s head outputs (its row at `qSource[qOffset …]`) over `keys` (`count` of them) into
   * `out`: {@link HeadAttention.headOut}, or the step's output itself when there is no wo; each
   * head's weights pushed to `weights` when asked.
   *
   * @throws AttentionError NON_FINITE (`field: "score"`) when a score overflowed.
   */
  compute(i: number, keys: AttendedKeys, count: number, qSource: FloatArray, qOffset: number, out: FloatArray, weights: FloatArray[] | null): void {
    const o = this.options;
    const job = this.job;
    if (job !== null && this.fillJob(job, i, keys, count, qSource, qOffset)) {
      const bad = o.threads !== null ? o.threads.attend(job.base, job.items, job.backward) : job.arena.attend(job.base, 0, job.items);
      this.finish(job, bad, i, keys, count, qSource, qOffset, out, weights);
      return;
    }
    this.attendInTypeScript(i, keys, count, qSource, qOffset, out, weights);
  }

  /** Query i's head outputs (and weights) from its job, which the kernel ran over every item (`bad`: what it returned). */
  private finish(
    job: StepJob,
    bad: number,
    i: number,
    keys: AttendedKeys,
    count: number,
    qSource: FloatArray,
    qOffset: number,
    out: FloatArray,
    weights: FloatArray[] | null,
  ): void {
    const o = this.options;
    // The kernels sum q·k in float32, and a block's weighted values: entries past about 1e19 can
    // overflow a score there (where a float64 sum of the same float32 numbers cannot: a cap need
    // not saturate it, nor its weight be 0), and values within a block's count of float32's
    // largest (3.4e38) a block's sum, though their mean fits. The TypeScript loops add in float64:
    // such a rare step runs there, so no score or output is ever a made-up Infinity.
    if (bad >= 0 || !job.merge(out, o.sinkLogits)) {
      this.attendInTypeScript(i, keys, count, qSource, qOffset, out, weights);
      return;
    }
    if (weights !== null) {
      for (let h = 0; h < o.heads; h++) {
        const w = new o.Float(count);
        job.weights(h, w);
        weights.push(w);
      }
    }
  }

  /**
   * Lays query `i`'s step out for the WebAssembly `attend` kernel: every head's rotated query (and,
   * with RoPE 'cache' positions, its rotation for the sinks: {@link sinkRank}) and one run per
   * cache block the keys span. False when it cannot: a block lives outside the arena, or the
   * scratch cannot grow.
   */
  private fillJob(job: StepJob, i: number, keys: AttendedKeys, count: number, qSource: FloatArray, qOffset: number, backward = !this.backward): boolean {
    const o = this.options;
    const { heads, headDim, blockSize } = o;
    const sinkRuns = blocksSpanned(0, keys.sinkEnd, blockSize);
    if (!job.begin(count, sinkRuns + blocksSpanned(keys.from, keys.to, blockSize))) return false;
    if (!this.addRuns(job, 0, keys.sinkEnd) || !this.addRuns(job, keys.from, keys.to)) return false;
    const rank = sinkRank(o, i, keys);
    if (o.invFreq === null) job.setQueries(qSource, qOffset);
    else {
      for (let h = 0; h < heads; h++) {
        const qSink = this.rotateQuery(qSource, qOffset + h * headDim, i, rank);
        // A rotated pair grows by up to √2: past float32's range the kernels' float32 copy of the
        // query would be Infinity (and the step refused), so such a rare step runs in TypeScript.
        if (!withinFloat32(this.qHead) || !withinFloat32(qSink)) return false;
        if (rank !== i) job.setSinkQuery(h, qSink, 0);
        job.setQuery(h, this.qHead, 0);
      }
    }
    this.backward = backward;
    job.seal(o.groupSize, 4 * blockSize * headDim, o.scale, o.slopes, i, o.scoreCap, rank === i ? 0 : sinkRuns, this.backward);
    return true;
  }

  /**
   * Copies a head's query, `qSource[offset …]`, into `qHead` rotated by `i` (RoPE), and returns the
   * row the sinks are scored against: `qHead` itself, or `qSink`, the query rotated by `rank` when
   * RoPE 'cache' positions set the sinks apart ({@link sinkRank}).
   */
  private rotateQuery(qSource: FloatArray, offset: number, i: number, rank: number): Float64Array {
    const { headDim, ropeStyle } = this.options;
    const qHead = this.qHead;
    for (let c = 0; c < headDim; c++) qHead[c] = qSource[offset + c]!;
    if (this.queryAngles === null) return qHead;
    if (rank !== i) {
      this.qSink.set(qHead);
      ropeRotateBy(this.qSink, 0, this.sinkAngles!.at(rank), ropeStyle === 'interleaved');
    }
    ropeRotateBy(qHead, 0, this.queryAngles.at(i), ropeStyle === 'interleaved');
    return rank === i ? qHead : this.qSink;
  }

  /** Adds one run per cache block that positions `[from, to)` span; false when a block lives outside the arena. */
  private addRuns(job: StepJob, from: number, to: number): boolean {
    const { blockSize, headDim } = this.options;
    for (let p = from; p < to; ) {
      const b = Math.floor(p / blockSize);
      const block = this.cache.blockAt(p)!;
      if (block.keysByteOffset < 0) return false;
      const end = Math.min(to, (b + 1) * blockSize);
      const slot = p - b * blockSize;
      // int8 rows are a byte a number; their scales: per channel for keys (the block's), per row for values.
      const keyScales = block.keyScalesByteOffset;
      const valueScales = block.valueScalesByteOffset;
      const keyRow = (keyScales === 0 ? 4 : 1) * slot * headDim;
      job.addRun(block.keysByteOffset + keyRow, block.valuesByteOffset, slot, end - p, p, keyScales, valueScales === 0 ? 0 : valueScales + 4 * slot);
      p = end;
    }
    return true;
  }

  /** The head outputs of query `i` into `headOut` by the TypeScript kernels, then into `out` when it is another array; pushes each head's weights when asked. */
  private attendInTypeScript(i: number, keys: AttendedKeys, count: number, qSource: FloatArray, qOffset: number, out: FloatArray, weights: FloatArray[] | null): void {
    const o = this.options;
    const { heads, headDim, groupSize } = o;
    if (this.scores.length < count) this.scores = new Float64Array(Math.max(count, 2 * this.scores.length));
    const scores = this.scores;
    const headOut = this.headOut;
    const qHead = this.qHead;
    headOut.fill(0);
    const rank = sinkRank(o, i, keys);
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / groupSize);
      const qSink = this.rotateQuery(qSource, qOffset + h * headDim, i, rank);
      const slope = o.slopes === null ? 0 : o.slopes[h]!;
      let n = this.scoreRun(scores, 0, qSink, g, 0, keys.sinkEnd, i, slope);
      n = this.scoreRun(scores, n, qHead, g, keys.from, keys.to, i, slope);
      if (o.scoreCap !== null) capScores(scores, count, o.scoreCap);
      const sink = o.sinkLogits === null ? -Infinity : o.sinkLogits[h]!;
      if (!Number.isFinite(softmaxInPlace(scores, 0, count, sink))) throw scoreOverflow(i, h);
      n = this.mixRun(scores, 0, h, g, 0, keys.sinkEnd);
      this.mixRun(scores, n, h, g, keys.from, keys.to);
      if (weights !== null) weights.push(o.Float.from(scores.subarray(0, count)));
    }
    if (out !== headOut) out.set(headOut);
  }

  /** Writes the scores of positions `[from, to)` against kv head g into `scores[n …]`; returns the next n. */
  private scoreRun(
    scores: Float64Array,
    n: number,
    qHead: Float64Array,
    g: number,
    from: number,
    to: number,
    i: number,
    slope: number,
  ): number {
    const { blockSize, headDim, scale } = this.options;
    for (let p = from; p < to; ) {
      const b = Math.floor(p / blockSize);
      const block = this.cache.blockAt(p)!;
      const end = Math.min(to, (b + 1) * blockSize);
      const keys = block.keys;
      if (keys !== null) {
        // Two keys per pass over the query (dotTwo: the same numbers as dot, each query number read once).
        for (; p + 1 < end; p += 2, n += 2) {
          const offset = (g * blockSize + (p - b * blockSize)) * headDim;
          dotTwo(qHead, 0, keys, offset, offset + headDim, headDim, scores, n);
          scores[n] = scores[n]! * scale - slope * Math.abs(i - p);
          scores[n + 1] = scores[n + 1]! * scale - slope * Math.abs(i - p - 1);
        }
        for (; p < end; p++) {
          const offset = (g * blockSize + (p - b * blockSize)) * headDim;
          scores[n++] = dot(qHead, 0, keys, offset, headDim) * scale - slope * Math.abs(i - p);
        }
        continue;
      }
      // int8 keys, one scale per channel: fold the scales into the query once per block.
      const keysInt8 = block.keysInt8!;
      const keyScales = block.keyScales!;
      const scaled = this.qScaled;
      for (let c = 0; c < headDim; c++) scaled[c] = qHead[c]! * keyScales[g * headDim + c]!;
      for (; p < end; p++) {
        const offset = (g * blockSize + (p - b * blockSize)) * headDim;
        let s = 0;
        for (let c = 0; c < headDim; c++) s += scaled[c]! * keysInt8[offset + c]!;
        scores[n++] = s * scale - slope * Math.abs(i - p);
      }
    }
    return n;
  }

  /** headOut[h] += Σ weight · value over positions `[from, to)`, weights read from `scores[n …]`. */
  private mixRun(scores: Float64Array, n: number, h: number, g: number, from: number, to: number): number {
    const { blockSize, headDim } = this.options;
    const headOut = this.headOut;
    for (let p = from; p < to; ) {
      const b = Math.floor(p / blockSize);
      const block = this.cache.blockAt(p)!;
      const end = Math.min(to, (b + 1) * blockSize);
      const values = block.values;
      if (values !== null) {
        // Chunk by chunk of columns ({@link VALUE_CHUNK}), four keys per pass over the chunk's outputs:
        // a quarter of the loads and stores of headOut.
        const rows = end - p;
        for (let c0 = 0; c0 < headDim; c0 += VALUE_CHUNK) {
          const width = Math.min(VALUE_CHUNK, headDim - c0);
          const out = h * headDim + c0;
          let at = valueChunkAt(g * blockSize * headDim, blockSize, p - b * blockSize, c0, width);
          let r = 0;
          for (; r + 3 < rows; r += 4, at += 4 * width) {
            const a0 = scores[n + r]!;
            const a1 = scores[n + r + 1]!;
            const a2 = scores[n + r + 2]!;
            const a3 = scores[n + r + 3]!;
            const r1 = at + width;
            const r2 = r1 + width;
            const r3 = r2 + width;
            for (let c = 0; c < width; c++) {
              headOut[out + c] = headOut[out + c]! + (a0 * values[at + c]! + a1 * values[r1 + c]! + (a2 * values[r2 + c]! + a3 * values[r3 + c]!));
            }
          }
          for (; r < rows; r++, at += width) axpy(headOut, out, scores[n + r]!, values, at, width);
        }
        n += rows;
        p = end;
        continue;
      }
      const valuesInt8 = block.valuesInt8!;
      const valueScales = block.valueScales!;
      for (; p < end; p++) {
        const row = g * blockSize + (p - b * blockSize);
        const alpha = scores[n++]! * valueScales[row]!;
        const offset = row * headDim;
        for (let c = 0; c < headDim; c++) headOut[h * headDim + c] = headOut[h * headDim + c]! + alpha * valuesInt8[offset + c]!;
      }
    }
    return n;
  }
}

/** `s → cap · tanh(s / cap)` over `scores[0 : count]`: the soft cap. */
function capScores(scores: Float64Array, count: number, cap: number): void {
  for (let j = 0; j < count; j++) scores[j] = cap * Math.tanh(scores[j]! / cap);
}

/** How many blocks of `blockSize` positions `[from, to)` touches. */
function blocksSpanned(from: number, to: number, blockSize: number): number {
  return to > from ? Math.floor((to - 1) / blockSize) - Math.floor(from / blockSize) + 1 : 0;
}
