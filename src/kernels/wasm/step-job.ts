import type { FloatArray } from '../float-array.js';
import type { WasmArena } from './wasm-arena.js';

/** Bytes of the job header the `attend` kernel reads (src/kernels/wasm/attention.wat). */
const HEADER_BYTES = 64;

/**
 * One decode step laid out for the `attend` kernel in the arena's scratch: a header, the float32
 * query of every head, the float64 head outputs, the run table (each run a stretch of consecutive
 * keys inside one cache block) and the float64 scores of every head, which end up as its weights.
 *
 * An engine keeps one StepJob and refills it each step ({@link StepJob.begin}, the queries, the
 * runs, {@link StepJob.seal}); the kernel then runs over any share of the heads, on this thread or
 * on a pool's. The views are remade only when the scratch moves or the memory grows.
 */
export class StepJob {
  readonly arena: WasmArena;
  readonly heads: number;
  readonly headDim: number;
  /** Byte offset of the header; valid after a successful {@link StepJob.begin}. */
  base = -1;
  private readonly queryStride: number;
  private generation = -1;
  private countRoom = 0;
  private runRoom = 0;
  private queries = 0;
  private slopes = 0;
  private outputs = 0;
  private runs = 0;
  private scores = 0;
  private count = 0;
  private runCount = 0;
  private i32 = new Int32Array(0);
  private f32 = new Float32Array(0);
  private f64 = new Float64Array(0);
  private outputView = new Float64Array(0);

  constructor(arena: WasmArena, heads: number, headDim: number) {
    this.arena = arena;
    this.heads = heads;
    this.headDim = headDim;
    this.queryStride = 16 * Math.ceil(headDim / 4);
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
    }
    const { heads, headDim } = this;
    const queryBytes = heads * this.queryStride;
    const slopeBytes = 16 * Math.ceil(heads / 2);
    const outputBytes = 8 * heads * headDim;
    const runBytes = 16 * this.runRoom;
    const base = this.arena.scratch(HEADER_BYTES + queryBytes + slopeBytes + outputBytes + runBytes + 8 * heads * this.countRoom);
    if (base < 0) return false;
    this.base = base;
    this.queries = base + HEADER_BYTES;
    this.slopes = this.queries + queryBytes;
    this.outputs = this.slopes + slopeBytes;
    this.runs = this.outputs + outputBytes;
    this.scores = this.runs + runBytes;
    if (this.generation !== this.arena.generation || this.f64.buffer !== this.arena.buffer) {
      const buffer = this.arena.buffer;
      this.i32 = new Int32Array(buffer);
      this.f32 = new Float32Array(buffer);
      this.f64 = new Float64Array(buffer);
      this.generation = this.arena.generation;
    }
    this.count = count;
    this.runCount = 0;
    return true;
  }

  /** Writes head h's query, `query[offset : offset + headDim]` (already rotated), as the float32 row the kernel reads. */
  setQuery(h: number, query: FloatArray, offset: number): void {
    const at = (this.queries + h * this.queryStride) >> 2;
    const f32 = this.f32;
    for (let c = 0; c < this.headDim; c++) f32[at + c] = query[offset + c]!;
  }

  /** Appends a run: `rows` keys from position `first`, kv head 0's rows at these byte offsets. */
  addRun(keys: number, values: number, rows: number, first: number): void {
    const at = (this.runs + 16 * this.runCount++) >> 2;
    const i32 = this.i32;
    i32[at] = keys;
    i32[at + 1] = values;
    i32[at + 2] = rows;
    i32[at + 3] = first;
  }

  /**
   * Writes the header; the job is then ready for the kernel. `slopes`: ALiBi's per query head, or
   * null; `position`: the query's, which the ALiBi bias is measured from.
   */
  seal(groupSize: number, kvStride: number, scale: number, slopes: Float64Array | null, position: number): void {
    if (slopes !== null) this.f64.set(slopes, this.slopes >> 3);
    const at = this.base >> 2;
    const i32 = this.i32;
    i32[at] = this.headDim;
    i32[at + 1] = groupSize;
    i32[at + 2] = this.runCount;
    i32[at + 3] = this.count;
    i32[at + 4] = kvStride;
    i32[at + 5] = this.queries;
    i32[at + 6] = this.queryStride;
    i32[at + 7] = this.outputs;
    i32[at + 8] = this.scores;
    i32[at + 9] = this.runs;
    i32[at + 10] = slopes === null ? 0 : this.slopes;
    i32[at + 11] = position;
    this.f64[(this.base + 48) >> 3] = scale;
  }

  /** The head outputs the kernel wrote: heads × headDim, float64, a view into the arena (remade only when it moves). */
  headOutputs(): Float64Array {
    const view = this.outputView;
    if (view.buffer === this.f64.buffer && view.byteOffset === this.outputs) return view;
    return (this.outputView = this.f64.subarray(this.outputs >> 3, (this.outputs >> 3) + this.heads * this.headDim));
  }

  /** Head h's weights after the kernel ran: `count` float64s, a view into the arena. */
  weights(h: number): Float64Array {
    const at = (this.scores >> 3) + h * this.count;
    return this.f64.subarray(at, at + this.count);
  }
}
