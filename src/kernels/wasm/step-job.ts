import type { FloatArray } from '../float-array.js';
import type { WasmArena } from './wasm-arena.js';

/** Bytes of the job header the `attend` kernel reads (src/kernels/wasm/attention.wat): 92, rounded up so the queries after it stay 16-byte aligned. */
const HEADER_BYTES = 96;
/**
 * Keys per stretch, about: a head's keys are cut into stretches of whole runs (cache blocks) so
 * that a pool can split one head across threads. The cut depends on the keys alone, never on the
 * threads, so the numbers do not either; merging costs a head-output's worth of work per stretch.
 */
const STRETCH_KEYS = 1024;
/** Bytes of a run table entry: keys, values, rows, first position, key scales, value scales, first slot, one unused. */
const RUN_BYTES = 32;

/**
 * One decode step laid out for the `attend` kernel in the arena's scratch: a header, the float32
 * query of every head, the run table (each run a stretch of consecutive keys inside one cache
 * block), the stretch table, the float64 scores and float32 exponentials of every head, and one
 * partial result per item (a head over one stretch of its keys).
 *
 * An engine keeps one StepJob and refills it each step ({@link StepJob.begin}, the queries, the
 * runs, {@link StepJob.seal}); the kernel then runs over any share of the items, on this thread or
 * on a pool's, and {@link StepJob.merge} combines each head's partials.
 */
export class StepJob {
  readonly arena: WasmArena;
  readonly heads: number;
  readonly headDim: number;
  /** Byte offset of the header; valid after a successful {@link StepJob.begin}. */
  base = -1;
  private readonly queryStride: number;
  private countRoom = 0;
  private runRoom = 0;
  private stretchRoom = 0;
  private queries = 0;
  private sinkQueries = 0;
  private slopes = 0;
  private partials = 0;
  private runs = 0;
  private stretchTable = 0;
  private scores = 0;
  private exponentials = 0;
  /** The merge's factors (float64, one per item) and the head outputs it writes (float64 room). */
  private factorTable = 0;
  private outputs = 0;
  private count = 0;
  private runCount = 0;
  private stretches = 1;
  private i32: Int32Array = new Int32Array(0);
  private f32: Float32Array = new Float32Array(0);
  private f64: Float64Array = new Float64Array(0);
  /** Per item, after {@link StepJob.merge}: what its exponentials are multiplied by to be weights. */
  private factors = new Float64Array(0);
  /** Whether the sealed step runs its items from the last down ({@link StepJob.seal}). */
  private runsBackward = false;

  /** The arena's scratch slot the job is laid out in ({@link WasmArena.scratch}): jobs alive together need slots of their own. */
  readonly slot: number;

  constructor(arena: WasmArena, heads: number, headDim: number, slot = 0) {
    this.arena = arena;
    this.heads = heads;
    this.headDim = headDim;
    this.slot = slot;
    this.queryStride = 16 * Math.ceil(headDim / 4);
  }

  /** Whether the sealed step runs its items from the last down (a thread pool runs its chunks so too). */
  get backward(): boolean {
    return this.runsBackward;
  }

  /** Items of the sealed step: every head over each of its stretches, head by head. */
  get items(): number {
    return this.heads * this.stretches;
  }

  /** Stretches of the sealed step: its items `[s·heads, (s + 1)·heads)` are every head over stretch s. */
  get stretchCount(): number {
    return this.stretches;
  }

  /**
   * Makes room for a step over `count` keys in at most `maxRuns` runs. Returns false when the
   * memory cannot grow (the engine then runs the step in TypeScript).
   */
  begin(count: number, maxRuns: number): boolean {
    if (count > this.countRoom || maxRuns > this.runRoom) {
      // Powers of two, so a growing stream asks for more scratch O(log n) times.
      this.countRoom = Math.max(this.countRoom, 64, 2 ** Math.ceil(Math.log2(count)));
      this.runRoom = Math.max(this.runRoom, 8, 2 ** Math.ceil(Math.log2(maxRuns)));
      this.stretchRoom = Math.ceil(this.countRoom / STRETCH_KEYS);
    }
    const { heads, headDim } = this;
    const queryBytes = heads * this.queryStride;
    const slopeBytes = 16 * Math.ceil(heads / 2);
    const partialBytes = 8 * heads * this.stretchRoom * (headDim + 2);
    const runBytes = RUN_BYTES * this.runRoom;
    const stretchBytes = 16 * this.stretchRoom;
    const scoreBytes = 8 * heads * this.countRoom;
    const exponentialBytes = 4 * heads * this.countRoom;
    const factorBytes = 8 * heads * this.stretchRoom;
    const outputBytes = 8 * heads * headDim;
    const base = this.arena.scratch(
      HEADER_BYTES + 2 * queryBytes + slopeBytes + partialBytes + runBytes + stretchBytes + factorBytes + outputBytes + scoreBytes + exponentialBytes,
      this.slot,
    );
    if (base < 0) return false;
    this.base = base;
    this.queries = base + HEADER_BYTES;
    this.sinkQueries = this.queries + queryBytes;
    this.slopes = this.sinkQueries + queryBytes;
    this.partials = this.slopes + slopeBytes;
    this.runs = this.partials + partialBytes;
    this.stretchTable = this.runs + runBytes;
    this.factorTable = this.stretchTable + stretchBytes;
    this.outputs = this.factorTable + factorBytes;
    this.scores = this.outputs + outputBytes;
    this.exponentials = this.scores + scoreBytes;
    ({ i32: this.i32, f32: this.f32, f64: this.f64 } = this.arena.views());
    this.count = count;
    this.runCount = 0;
    return true;
  }

  /** Writes head h's query, `query[offset : offset + headDim]` (already rotated), as the float32 row the kernel reads. */
  setQuery(h: number, query: FloatArray, offset: number): void {
    this.f32.set(query.subarray(offset, offset + this.headDim), (this.queries + h * this.queryStride) >>> 2);
  }

  /**
   * Writes every head's query, `query[offset : offset + heads·headDim]` (already rotated, if at
   * all), as {@link StepJob.setQuery} would head by head: in one copy when the kernel's rows are
   * the heads' own (headDim a multiple of 4).
   */
  setQueries(query: FloatArray, offset: number): void {
    const { heads, headDim } = this;
    if (this.queryStride !== 4 * headDim) {
      for (let h = 0; h < heads; h++) this.setQuery(h, query, offset + h * headDim);
      return;
    }
    const end = offset + heads * headDim;
    this.f32.set(offset === 0 && query.length === end ? query : query.subarray(offset, end), this.queries >>> 2);
  }

  /** Writes head h's query for the sink runs ({@link StepJob.seal}'s `sinkRuns`), as {@link StepJob.setQuery} does. */
  setSinkQuery(h: number, query: FloatArray, offset: number): void {
    this.f32.set(query.subarray(offset, offset + this.headDim), (this.sinkQueries + h * this.queryStride) >>> 2);
  }

  /**
   * Appends a run: `rows` keys from position `first`, in the block's slots from `slot` on. `keys`:
   * the byte offset of kv head 0's first row of the run; `values`: of kv head 0's values in the
   * block (float32 ones in column chunks, src/cache/value-layout.ts; int8 ones row after row). For
   * int8 rows, the byte offsets of kv head 0's scales: per channel for keys (`keyScales`), per row
   * for values (`valueScales`, at the run's first row); 0 for float32 rows.
   */
  addRun(keys: number, values: number, slot: number, rows: number, first: number, keyScales: number, valueScales: number): void {
    const at = (this.runs + RUN_BYTES * this.runCount++) >>> 2;
    const i32 = this.i32;
    i32[at] = keys;
    i32[at + 1] = values;
    i32[at + 2] = rows;
    i32[at + 3] = first;
    i32[at + 4] = keyScales;
    i32[at + 5] = valueScales;
    i32[at + 6] = slot;
  }

  /**
   * Writes the stretch table and the header; the job is then ready for the kernel. `slopes`:
   * ALiBi's per query head, or null; `position`: the query's, which the ALiBi bias is measured from;
   * `scoreCap`: the scores' soft cap, or null; `sinkRuns`: how many of the first runs are scored
   * against the sink queries instead (RoPE 'cache' positions, see src/attention/attended-keys.ts),
   * 0 for none; `backward`: whether the kernel runs the items from the last down.
   */
  seal(groupSize: number, kvStride: number, scale: number, slopes: Float64Array | null, position: number, scoreCap: number | null, sinkRuns: number, backward: boolean): void {
    if (slopes !== null) this.f64.set(slopes, this.slopes >>> 3);
    const i32 = this.i32;
    // Whole runs per stretch, as even in runs as they divide.
    const stretches = Math.min(this.runCount, Math.ceil(this.count / STRETCH_KEYS));
    let run = 0;
    let key = 0;
    for (let s = 0; s < stretches; s++) {
      const end = Math.round(((s + 1) * this.runCount) / stretches);
      const at = (this.stretchTable >>> 2) + 4 * s;
      i32[at] = run;
      i32[at + 1] = end;
      i32[at + 2] = key;
      for (; run < end; run++) key += i32[(this.runs + RUN_BYTES * run + 8) >>> 2]!;
    }
    this.stretches = stretches;
    const at = this.base >>> 2;
    i32[at] = this.headDim;
    i32[at + 1] = groupSize;
    i32[at + 2] = this.runCount;
    i32[at + 3] = this.count;
    i32[at + 4] = kvStride;
    i32[at + 5] = this.queries;
    i32[at + 6] = this.queryStride;
    i32[at + 7] = this.partials;
    i32[at + 8] = this.scores;
    i32[at + 9] = this.runs;
    i32[at + 10] = slopes === null ? 0 : this.slopes;
    i32[at + 11] = position;
    this.f64[(this.base + 48) >>> 3] = scale;
    i32[at + 14] = stretches;
    i32[at + 15] = this.stretchTable;
    i32[at + 16] = this.exponentials;
    this.runsBackward = backward;
    i32[at + 17] = backward ? 1 : 0;
    i32[at + 18] = sinkRuns;
    i32[at + 19] = this.sinkQueries;
    this.f64[(this.base + 80) >>> 3] = scoreCap ?? 0;
    i32[at + 22] = this.heads;
  }

  /**
   * Writes the head outputs into `out` (heads × headDim) once the kernel ran over every item. A
   * head's stretches are merged by log-sum-exp: with M the largest of their maxima m_s and
   * f_s = e^(m_s − M), output = Σ_s f_s·acc_s / Σ_s f_s·sum_s. The factors f_s / Σ f_s·sum_s are
   * computed here (a float64 exp), the weighted sums by the `merge` kernel, in float64, rounded
   * once to float32 when `out` is a Float32Array. A head's sink logit σ (`sinkLogits`, or none)
   * joins as one more term: M counts it among the maxima and the denominator adds e^(σ − M).
   * Returns whether every output is finite (as stored in `out`: a float32 one may overflow).
   */
  merge(out: FloatArray, sinkLogits: Float64Array | null = null): boolean {
    // Another job laid out since this one's begin may have grown the memory.
    ({ i32: this.i32, f32: this.f32, f64: this.f64 } = this.arena.views());
    const { heads, headDim, stretches, f64 } = this;
    if (this.factors.length < heads * stretches) this.factors = new Float64Array(heads * stretches);
    const factors = this.factors;
    const width = headDim + 2;
    for (let h = 0; h < heads; h++) {
      const first = h * stretches;
      if (stretches === 1 && sinkLogits === null) {
        // The general case's e^(m − M) / (e^(−∞ − M) + e^(m − M)·sum) with M = m is exactly 1 / sum
        // for a finite maximum m; the two exps cost ~1 µs a step at 32 heads.
        const at = (this.partials >>> 3) + first * width;
        if (Number.isFinite(f64[at]!)) {
          factors[first] = 1 / f64[at + 1]!;
          continue;
        }
      }
      const sink = sinkLogits === null ? -Infinity : sinkLogits[h]!;
      let max = sink;
      for (let s = 0; s < stretches; s++) max = Math.max(max, f64[(this.partials >>> 3) + (first + s) * width]!);
      let total = Math.exp(sink - max);
      for (let s = 0; s < stretches; s++) {
        const at = (this.partials >>> 3) + (first + s) * width;
        factors[first + s] = Math.exp(f64[at]! - max);
        total += factors[first + s]! * f64[at + 1]!;
      }
      for (let s = 0; s < stretches; s++) factors[first + s] = factors[first + s]! / total;
    }
    f64.set(factors.subarray(0, heads * stretches), this.factorTable >>> 3);
    const narrow = out instanceof Float32Array;
    const finite = this.arena.merge(this.base, heads, this.factorTable, this.outputs, narrow ? 1 : 0) === 1;
    const n = heads * headDim;
    out.set(narrow ? this.f32.subarray(this.outputs >>> 2, (this.outputs >>> 2) + n) : f64.subarray(this.outputs >>> 3, (this.outputs >>> 3) + n));
    return finite;
  }

  /** Head h's weights after {@link StepJob.merge}, written to `out` (`count` of them). */
  weights(h: number, out: FloatArray): void {
    const { stretches, f32, i32, factors } = this;
    const at = (this.exponentials >>> 2) + h * this.count;
    for (let s = 0; s < stretches; s++) {
      const entry = (this.stretchTable >>> 2) + 4 * s;
      const from = i32[entry + 2]!;
      const to = s + 1 < stretches ? i32[entry + 6]! : this.count;
      const factor = factors[h * stretches + s]!;
      for (let j = from; j < to; j++) out[j] = factor * f32[at + j]!;
    }
  }
}
