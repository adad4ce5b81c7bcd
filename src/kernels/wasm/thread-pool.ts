import { AttentionError } from '../../errors.js';
import { drainShares, OP_ATTEND, OP_PROJECT, OP_PROJECT_BF16, OP_PROJECT_F16, STEP_ARGS, STEP_BACKWARD, STEP_CHUNK, STEP_OP, STEP_PARTS, STEP_UNITS, STEP_WORDS } from './drain-shares.js';
import type { ShareKernels } from './drain-shares.js';
import { WasmArena } from './wasm-arena.js';

// Present in Node and in cross-origin-isolated browsers; declared because the core compiles against plain ES2022.
declare const SharedArrayBuffer: { new (bytes: number): ArrayBuffer };
declare const performance: { now(): number };

/** More workers than any machine has cores only adds hand-overs; past this a count is a mistake. */
export const MAX_THREADS = 1024;
/** Int32 slots per worker in the control buffer: 64 bytes, so two workers never share a cache line. */
const SLOT = 16;
const POSTED = 0;
const DONE = 1;
const RESULT = 2;
const QUIT = 3;
/**
 * Whether the worker joins the posted step: −sequence while it has not, sequence once it has
 * (its compare-and-swap) or once the calling thread, done with the step, shut it out (its own).
 */
const CLAIM = 4;
/** Sequences stay in [1, 2³⁰): a step's −sequence and sequence are distinct Int32 values, never 0. */
const LAST_SEQUENCE = 0x3fffffff;
/** Below this many multiply-adds a projection runs on the calling thread: a hand-over costs more. */
const SPLIT_PROJECTION = 1 << 16;
/**
 * Chunks per share, about ({@link drainShares}): enough that a late thread's share is mostly run
 * by the others, few enough that a chunk keeps the kernel's batches (a stretch's heads together).
 */
const CHUNKS_PER_SHARE = 4;
/** What a worker reports when the kernel trapped: a bug, not a score overflow. */
const FAILED = -2;
/**
 * Milliseconds a waiting thread polls before it sleeps. Waking a sleeping thread cost 0.3–0.6 ms a
 * step on the machine we measure on, so a worker keeps polling through the gaps of a decode loop
 * (the rest of a layer's work between two steps), and sleeps once the pool is idle.
 */
const SPIN_MS = 2;

/**
 * The loop each worker runs, as source text: the platform module (attnstream/threads) evaluates
 * it in a worker with `(data, ready)`. The worker instantiates the kernels over the pool's shared
 * memory, then waits for a step: the calling thread writes the step region (the op, its
 * arguments, the shares) and bumps the worker's POSTED; the worker joins the step (CLAIM, unless
 * the calling thread finished it first and shut the worker out) and runs chunks of it with
 * {@link drainShares}, whose source is embedded here, then writes RESULT and sets DONE to what it
 * saw. Polling for a while before sleeping keeps the hand-over at a step's pace cheap; a notify
 * without a step (wake()) starts the polling again.
 */
export const WORKER_LOOP_SOURCE = `(data, ready) => {
  const control = new Int32Array(data.control);
  const at = data.slot * ${SLOT};
  const kernels = new WebAssembly.Instance(data.module, { env: { memory: data.memory } }).exports;
  const drain = ${drainShares.toString()};
  let seen = 0;
  ready();
  for (;;) {
    let spins = 0;
    let until = performance.now() + ${SPIN_MS};
    while (Atomics.load(control, at + ${POSTED}) === seen) {
      if ((++spins & 255) === 0 && performance.now() > until) {
        Atomics.wait(control, at + ${POSTED}, seen);
        // Woken by a step, or by wake() ahead of one: poll again.
        until = performance.now() + ${SPIN_MS};
      }
    }
    seen = Atomics.load(control, at + ${POSTED});
    if (Atomics.load(control, at + ${QUIT}) !== 0) return;
    // A worker that comes too late (asleep, still starting) finds the step done without it.
    if (Atomics.compareExchange(control, at + ${CLAIM}, -seen, seen) !== -seen) continue;
    let result = ${FAILED};
    try {
      result = drain(kernels, control, data.step, data.slot + 1);
    } catch {
      result = ${FAILED};
    }
    control[at + ${RESULT}] = result;
    Atomics.store(control, at + ${DONE}, seen);
    Atomics.notify(control, at + ${DONE});
  }
}`;

/** What the pool needs of a worker it did not start itself. */
export interface PoolWorker {
  terminate(): unknown;
}

/** What a worker receives: the kernels, the memory they run on and where its slot is. */
export interface WorkerData {
  readonly module: object;
  readonly memory: object;
  readonly control: ArrayBuffer;
  readonly slot: number;
  /** Int32 offset of the control buffer's step region (src/kernels/wasm/drain-shares.ts). */
  readonly step: number;
}

/** What a pool knows of one engine's pushes. */
interface PushRecord {
  /** Whether its last push handed work to the workers. */
  handedOver: boolean;
}

/**
 * Threads that share one engine's decode step: each takes a share of the step's items (a query
 * head over a stretch of about a thousand of its keys; partial softmaxes merged by log-sum-exp)
 * and runs the same WebAssembly kernel over the same cache, in a memory shared by all of them; an
 * engine's larger projections are shared out the same way (a prompt's tokens, a token's rows). The
 * stretches depend on the keys only, so every number is exactly what one thread computes, whoever
 * ran which item. Create one with `createThreadPool` from `attnstream/threads` and pass it as the
 * `threads` option; one pool serves every engine of a model (they run one at a time on the calling
 * thread), and their caches live in its arena.
 *
 * The calling thread counts: a pool of 2 threads is the caller and one worker. A step waits for
 * its workers synchronously (so `push` stays synchronous): it sleeps in `Atomics.wait` where the
 * thread may block (Node, workers) and polls where it may not (a browser page's main thread).
 * Shares are cut into a few chunks each, and a thread done with its own share takes the chunks
 * still unclaimed from the ends of the others' (`drainShares`, src/kernels/wasm/drain-shares.ts):
 * a worker that is asleep, still starting, gone, or descheduled half-way costs the step at most
 * the chunk it holds, and a slower thread runs fewer chunks.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import { createThreadPool } from 'attnstream/threads';
 * const pool = await createThreadPool(2);
 * const attn = createAttention({ dim: 512, heads: 8, threads: pool });
 * attn.push(new Float32Array(512).fill(0.5));
 * console.log(pool.threads, attn.length); // 2 1
 * await pool.close();
 * ```
 */
export class ThreadPool {
  /** Threads a step is split across, the calling one included (after {@link ThreadPool.close}, the calling one alone runs them). */
  readonly threads: number;
  /** The shared memory the engines using this pool keep their caches in. @internal */
  readonly arena: WasmArena;
  /** The arena's kernels under the module's export names, as a worker's instance has them. */
  private readonly kernels: ShareKernels;
  private readonly control: Int32Array;
  /** Int32 offset of the control buffer's step region, after the workers' slots. */
  private readonly step: number;
  private readonly workers: readonly PoolWorker[];
  private sequence = 0;
  private isClosed = false;
  /**
   * Whether each engine's last push handed work to the workers (absent: not known yet, so it
   * does): an engine whose steps never split (one head over a short cache, small products) would
   * otherwise keep every worker polling after each of its pushes, for nothing (a 1-head engine's
   * pushes cost 14× the CPU). Per engine: engines sharing the pool differ (a draft model's and a
   * target's).
   */
  private readonly pushes = new WeakMap<object, PushRecord>();
  /**
   * The record of the engine whose push is running: the one {@link ThreadPool.wake} was last called
   * for. The record, not the engine (nor a WeakRef, which keeps its target until the job ends): an
   * engine dropped without `dispose()` is not kept, nor its hold on the weights' copy with it.
   */
  private current: PushRecord | null = null;
  /** What {@link ThreadPool.close} returns, once called. */
  private closing: Promise<void> | null = null;
  /** Only the constructor sets it: {@link ThreadPool.is} tells a pool from an object made with its prototype. */
  readonly #made = true;

  /**
   * A pool over workers already started with {@link ThreadPool.workerData} and ready: for platform
   * modules (`attnstream/threads`); applications call `createThreadPool`.
   * @internal
   */
  static over(arena: WasmArena, control: ArrayBuffer, workers: readonly PoolWorker[]): ThreadPool {
    return new ThreadPool(arena, control, workers);
  }

  // Private, so that the published types offer no way to make one; JavaScript still can, hence the check.
  private constructor(arena: WasmArena, control: ArrayBuffer, workers: readonly PoolWorker[]) {
    // The class is exported for instanceof and its type; a pool made by hand would have no workers.
    if (!(arena instanceof WasmArena)) {
      throw new AttentionError('INVALID_ARGUMENT', 'new ThreadPool: a pool is made by createThreadPool(threads) from attnstream/threads, which starts its workers', {
        field: 'arena',
      });
    }
    this.arena = arena;
    this.kernels = { attend: arena.attend, project: arena.project, project_bf16: arena.projectBf16, project_f16: arena.projectF16 };
    this.control = new Int32Array(control);
    this.step = stepRegion(control);
    this.workers = workers;
    this.threads = workers.length + 1;
  }

  /**
   * Whether `value` is a pool this class made: `instanceof` alone also takes an object made from
   * its prototype (`Object.create(ThreadPool.prototype)`), which has no workers or memory behind it.
   * @internal
   */
  static is(value: unknown): value is ThreadPool {
    return typeof value === 'object' && value !== null && #made in value;
  }

  /** A control buffer for `workers` workers. @internal */
  static controlBuffer(workers: number): ArrayBuffer {
    return new SharedArrayBuffer(4 * (SLOT * Math.max(1, workers) + STEP_INTS));
  }

  /** What worker `slot` is started with. @internal */
  static workerData(arena: WasmArena, control: ArrayBuffer, slot: number): WorkerData {
    return { module: arena.module, memory: arena.memory, control, slot, step: stepRegion(control) };
  }

  /** Whether {@link ThreadPool.close} was called: engines using the pool then run on their own thread. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Runs `items` items of the step laid out at byte offset `job` (each a head over a stretch of its
   * keys), from item `first` on, in contiguous shares, in the order the job runs them (`backward`:
   * from the last down); returns the lowest head whose scores overflowed, or -1.
   * @internal
   */
  attend(job: number, items: number, backward: boolean, first = 0): number {
    const parts = this.isClosed ? 1 : Math.min(this.threads, items);
    if (parts <= 1) return this.arena.attend(job, first, first + items);
    return this.share(OP_ATTEND, parts, items, backward, job, first, 0, 0, 0, 0);
  }

  /**
   * The arena's `project` kernel (`out[n×rows] = X[n×cols] · Wᵀ`, byte offsets) split across the
   * threads: a prompt's tokens by groups of four, a single token's rows (or each of up to three
   * tokens' rows) by groups of four rows; exactly four tokens run here. X is laid out as the kernel
   * reads it (src/kernels/wasm/project-in-arena.ts). Each output is computed exactly as on one
   * thread. Small products stay on the calling thread.
   * @internal
   */
  project(out: number, x: number, w: number, n: number, rows: number, cols: number): void {
    this.split(OP_PROJECT, out, x, w, n, rows, cols);
  }

  /**
   * The arena's `projectBf16` kernel (W in bfloat16) split across the threads as
   * {@link ThreadPool.project} splits `project`.
   * @internal
   */
  projectBf16(out: number, x: number, w: number, n: number, rows: number, cols: number): void {
    this.split(OP_PROJECT_BF16, out, x, w, n, rows, cols);
  }

  /**
   * The arena's `projectF16` kernel (W in binary16) split across the threads as
   * {@link ThreadPool.project} splits `project`.
   * @internal
   */
  projectF16(out: number, x: number, w: number, n: number, rows: number, cols: number): void {
    this.split(OP_PROJECT_F16, out, x, w, n, rows, cols);
  }

  private split(op: typeof OP_PROJECT | typeof OP_PROJECT_BF16 | typeof OP_PROJECT_F16, out: number, x: number, w: number, n: number, rows: number, cols: number): void {
    if (n > 1 && n < 4) {
      // Fewer than four tokens are single rows: split each token's rows.
      for (let t = 0; t < n; t++) this.split(op, out + 4 * t * rows, x + 4 * t * cols, w, 1, rows, cols);
      return;
    }
    // One group of four tokens (packed together: src/kernels/wasm/project-in-arena.ts) is one unit.
    const units = n > 1 ? Math.ceil(n / 4) : Math.ceil(rows / 4);
    const parts = this.isClosed || n === 4 || n * rows * cols < SPLIT_PROJECTION ? 1 : Math.min(this.threads, units);
    if (parts > 1) this.share(op, parts, units, false, out, x, w, n, rows, cols);
    else if (op === OP_PROJECT) this.arena.project(out, x, w, n, rows, cols);
    else if (op === OP_PROJECT_BF16) this.arena.projectBf16(out, x, w, n, rows, cols);
    else this.arena.projectF16(out, x, w, n, rows, cols);
  }

  /**
   * Gets sleeping workers polling again, ahead of a step: an engine calls it when a push starts,
   * so a worker's wake-up overlaps the push's projections instead of delaying the step. Only
   * when `engine`'s last push handed work over: after one that stayed on the calling thread, the
   * next most likely does too.
   * @internal
   */
  wake(engine: object): void {
    let record = this.pushes.get(engine);
    if (record === undefined) this.pushes.set(engine, (record = { handedOver: true }));
    const handedOver = record.handedOver;
    record.handedOver = false;
    this.current = record;
    if (this.isClosed || !handedOver) return;
    for (let w = 0; w < this.workers.length; w++) Atomics.notify(this.control, w * SLOT + POSTED);
  }

  /**
   * Stops the workers; resolves once they have stopped (every call: a second one returns the
   * first's promise). Engines using the pool go on, on their own thread.
   */
  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  private async stop(): Promise<void> {
    this.isClosed = true;
    const c = this.control;
    for (let w = 0; w < this.workers.length; w++) {
      const at = w * SLOT;
      Atomics.store(c, at + QUIT, 1);
      Atomics.add(c, at + POSTED, 1);
      Atomics.notify(c, at + POSTED);
    }
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  /**
   * Posts a step of `units` in `parts` shares (the op and its arguments: see drain-shares.ts) to
   * workers 1 … parts − 1, runs chunks here until none is left unclaimed ({@link drainShares},
   * this thread's own share first), then settles each worker: one that never joined the step is
   * shut out of it (its chunks ran here or on the others), one that did is waited for. Returns the
   * lowest non-negative result of all threads (the lowest overflowing head: a kv head's query heads
   * take its stretches in turn, so any share may hold it), or -1. Every chunk runs the same kernel
   * on the same units wherever it runs, so the numbers do not depend on who ran what.
   */
  private share(op: number, parts: number, units: number, backward: boolean, ...args: [number, number, number, number, number, number]): number {
    const c = this.control;
    const step = this.step;
    if (this.current !== null) this.current.handedOver = true;
    const sequence = (this.sequence = this.sequence >= LAST_SEQUENCE ? 1 : this.sequence + 1);
    const chunk = Math.max(1, Math.floor(units / (CHUNKS_PER_SHARE * parts)));
    c[step + STEP_OP] = op;
    c[step + STEP_PARTS] = parts;
    c[step + STEP_UNITS] = units;
    c[step + STEP_CHUNK] = chunk;
    c[step + STEP_BACKWARD] = backward ? 1 : 0;
    for (let i = 0; i < args.length; i++) c[step + STEP_ARGS + i] = args[i]!;
    for (let k = 0; k < parts; k++) {
      const shareUnits = Math.round(((k + 1) * units) / parts) - Math.round((k * units) / parts);
      // No chunk claimed yet (lo = 0) of the share's hi = ⌈shareUnits / chunk⌉.
      Atomics.store(c, step + STEP_WORDS + k, Math.ceil(shareUnits / chunk) << 16);
    }
    for (let w = 1; w < parts; w++) {
      const at = (w - 1) * SLOT;
      Atomics.store(c, at + CLAIM, -sequence);
      Atomics.store(c, at + POSTED, sequence);
      Atomics.notify(c, at + POSTED, 1);
    }
    let bad = -1;
    let error: unknown = null;
    try {
      bad = drainShares(this.kernels, c, step, 0);
    } catch (e) {
      // A trap here (a bug): the chunks left are not run, but every worker is still settled below.
      error = e;
    }
    // Every worker is settled before returning, even after a throw: the next step rewrites what workers read.
    for (let w = 1; w < parts; w++) {
      const at = (w - 1) * SLOT;
      if (Atomics.compareExchange(c, at + CLAIM, -sequence, sequence) === -sequence) continue;
      const result = this.waitFor(at, sequence);
      if (result === FAILED) error ??= new Error(`attnstream thread pool: the kernel trapped on worker ${w}`);
      else if (result >= 0 && (bad < 0 || result < bad)) bad = result;
    }
    if (error !== null) throw error;
    return bad;
  }

  private waitFor(at: number, sequence: number): number {
    const c = this.control;
    let spins = 0;
    let until = performance.now() + SPIN_MS;
    for (;;) {
      const done = Atomics.load(c, at + DONE);
      if (done === sequence) return c[at + RESULT]!;
      if ((++spins & 255) === 0 && performance.now() > until) {
        until = performance.now() + SPIN_MS;
        try {
          Atomics.wait(c, at + DONE, done, 100);
        } catch {
          // A browser's main thread may not block: go on polling.
        }
      }
    }
  }
}

/** Int32s of the control buffer's step region: its header and one word per share, for the largest pool. */
const STEP_INTS = STEP_WORDS + MAX_THREADS;

/** The step region's Int32 offset: after the workers' slots, at the end of the control buffer. */
function stepRegion(control: ArrayBuffer): number {
  return control.byteLength / 4 - STEP_INTS;
}
