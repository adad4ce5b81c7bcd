import { AttentionError } from '../../errors.js';
import { WasmArena } from './wasm-arena.js';

// Present in Node and in cross-origin-isolated browsers; declared because the core compiles against plain ES2022.
declare const SharedArrayBuffer: { new (bytes: number): ArrayBuffer };
declare const performance: { now(): number };

/** Int32 slots per worker in the control buffer: 64 bytes, so two workers never share a cache line. */
const SLOT = 16;
const POSTED = 0;
const DONE = 1;
const JOB = 2;
const FIRST_ITEM = 3;
const END_ITEM = 4;
const RESULT = 5;
const QUIT = 6;
/** What the posted share is: 0 a step's items (JOB, FIRST_ITEM, END_ITEM), 1 a projection (OUT … COLS). */
const OP = 7;
const OUT = 8;
const X = 9;
const W = 10;
const TOKENS = 11;
const ROWS = 12;
const COLS = 13;
/**
 * Who runs the posted share: −sequence while nobody has taken it, sequence once the worker or the
 * calling thread has (compare-and-swap, so exactly one of them runs it).
 */
const CLAIM = 14;
/** Sequences stay in [1, 2³⁰): a share's −sequence and sequence are distinct Int32 values, never 0. */
const LAST_SEQUENCE = 0x3fffffff;
const OP_ATTEND = 0;
const OP_PROJECT = 1;
/** Below this many multiply-adds a projection runs on the calling thread: a hand-over costs more. */
const SPLIT_PROJECTION = 1 << 16;
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
 * memory, then waits for a step: the main thread writes the job and a share of the items into the
 * worker's slot and bumps POSTED; the worker claims the share (CLAIM, unless the main thread took
 * it back first), runs `attend` on it (or `project` on a share of a projection's tokens or rows),
 * writes RESULT and sets DONE to what it saw. Polling for a while before sleeping keeps the
 * hand-over at a step's pace cheap; a notify without a job (wake()) starts the polling again.
 */
export const WORKER_LOOP_SOURCE = `(data, ready) => {
  const control = new Int32Array(data.control);
  const at = data.slot * ${SLOT};
  const { attend, project } = new WebAssembly.Instance(data.module, { env: { memory: data.memory } }).exports;
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
    // The caller runs a share itself when this worker is late (asleep, still starting): then it is not ours.
    if (Atomics.compareExchange(control, at + ${CLAIM}, -seen, seen) !== -seen) continue;
    let result = ${FAILED};
    try {
      if (control[at + ${OP}] === ${OP_PROJECT}) {
        project(control[at + ${OUT}], control[at + ${X}], control[at + ${W}], control[at + ${TOKENS}], control[at + ${ROWS}], control[at + ${COLS}]);
        result = -1;
      } else {
        result = attend(control[at + ${JOB}], control[at + ${FIRST_ITEM}], control[at + ${END_ITEM}]);
      }
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
}

/**
 * Threads that share one engine's decode step: each takes a share of the step's items (a query
 * head over a stretch of about a thousand of its keys; partial softmaxes merged by log-sum-exp)
 * and runs the same WebAssembly kernel over the same cache, in a memory shared by all of them; an
 * engine's larger projections are shared out the same way (a prompt's tokens, a token's rows). The
 * stretches depend on the keys only, so every number is exactly what one thread computes. Create
 * one with `createThreadPool` from `attnstream/threads` and pass it as the `threads` option; one
 * pool serves every engine of a model (they run one at a time on the calling thread), and their
 * caches live in its arena.
 *
 * The calling thread counts: a pool of 2 threads is the caller and one worker. A step waits for
 * its workers synchronously (so `push` stays synchronous): it sleeps in `Atomics.wait` where the
 * thread may block (Node, workers) and polls where it may not (a browser page's main thread). A
 * share its worker has not claimed by the time the calling thread finished its own (the worker
 * asleep, still starting, or gone) is taken back and run there, with the same numbers.
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
  /** Threads a step is split across, the calling one included. */
  readonly threads: number;
  /** The shared memory the engines using this pool keep their caches in. @internal */
  readonly arena: WasmArena;
  private readonly control: Int32Array;
  private readonly workers: readonly PoolWorker[];
  private sequence = 0;
  private isClosed = false;
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
    this.control = new Int32Array(control);
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
    return new SharedArrayBuffer(4 * SLOT * Math.max(1, workers));
  }

  /** What worker `slot` is started with. @internal */
  static workerData(arena: WasmArena, control: ArrayBuffer, slot: number): WorkerData {
    return { module: arena.module, memory: arena.memory, control, slot };
  }

  /** Whether {@link ThreadPool.close} was called: engines using the pool then run on their own thread. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Runs the step laid out at byte offset `job`, its `items` (each a head over a stretch of its
   * keys) split into contiguous shares; returns the lowest head whose scores overflowed, or -1.
   * @internal
   */
  attend(job: number, items: number): number {
    const parts = this.isClosed ? 1 : Math.min(this.threads, items);
    if (parts <= 1) return this.arena.attend(job, 0, items);
    const bound = (k: number): number => Math.round((k * items) / parts);
    return this.share(
      parts,
      (c, at, w) => {
        c[at + OP] = OP_ATTEND;
        c[at + JOB] = job;
        c[at + FIRST_ITEM] = bound(w);
        c[at + END_ITEM] = bound(w + 1);
      },
      (k) => this.arena.attend(job, bound(k), bound(k + 1)),
    );
  }

  /**
   * The arena's `project` kernel (`out[n×rows] = X[n×cols] · Wᵀ`, byte offsets) split across the
   * threads: a prompt's tokens in shares of whole groups of four, a single token's rows (or each of
   * up to three tokens' rows) in shares; exactly four tokens run here. X is laid out as the kernel
   * reads it (src/kernels/wasm/project-in-arena.ts). Each output is computed exactly as on one
   * thread. Small products stay on the calling thread.
   * @internal
   */
  project(out: number, x: number, w: number, n: number, rows: number, cols: number): void {
    if (n > 1 && n < 4) {
      // Fewer than four tokens are single rows: split each token's rows.
      for (let t = 0; t < n; t++) this.project(out + 4 * t * rows, x + 4 * t * cols, w, 1, rows, cols);
      return;
    }
    const split = n > 1 ? Math.ceil(n / 4) : Math.ceil(rows / 4);
    // One group of four tokens (packed together: src/kernels/wasm/project-in-arena.ts) is one share.
    const parts = this.isClosed || n === 4 || n * rows * cols < SPLIT_PROJECTION ? 1 : Math.min(this.threads, split);
    if (parts <= 1) {
      this.arena.project(out, x, w, n, rows, cols);
      return;
    }
    // Share k covers groups of four [g(k), g(k + 1)): tokens when there are several, else rows.
    const g = (k: number): number => Math.min(4 * Math.round((k * split) / parts), n > 1 ? n : rows);
    /** Share k's out, x, w, tokens and rows for the kernel. */
    const shareArgs = (k: number): [number, number, number, number, number] => {
      const from = g(k);
      const to = g(k + 1);
      return n > 1 ? [out + 4 * from * rows, x + 4 * from * cols, w, to - from, rows] : [out + 4 * from, x, w + 4 * from * cols, 1, to - from];
    };
    this.share(
      parts,
      (c, at, k) => {
        const [o, xs, ws, tokens, rowCount] = shareArgs(k);
        c[at + OP] = OP_PROJECT;
        c[at + OUT] = o;
        c[at + X] = xs;
        c[at + W] = ws;
        c[at + TOKENS] = tokens;
        c[at + ROWS] = rowCount;
        c[at + COLS] = cols;
      },
      (k) => {
        const [o, xs, ws, tokens, rowCount] = shareArgs(k);
        this.arena.project(o, xs, ws, tokens, rowCount, cols);
        return -1;
      },
    );
  }

  /**
   * Gets sleeping workers polling again, ahead of a step: an engine calls it when a push starts,
   * so a worker's wake-up overlaps the push's projections instead of delaying the step.
   * @internal
   */
  wake(): void {
    if (this.isClosed) return;
    for (let w = 0; w < this.workers.length; w++) Atomics.notify(this.control, w * SLOT + POSTED);
  }

  /** Stops the workers. Engines using the pool go on, on their own thread. */
  async close(): Promise<void> {
    if (this.isClosed) return;
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
   * Posts shares 1 … parts − 1 to the workers (`post` fills a worker's slot), runs share 0 here
   * (`run(0)`), then, worker by worker, takes back a share its worker has not claimed yet and runs
   * it here too (a worker asleep, still starting or gone costs its share's time, not a wait), or
   * waits for the worker to finish it. Returns the lowest non-negative result (the lowest
   * overflowing head: a kv head's query heads take its stretches in turn, so any share may hold
   * it), or -1. Every share runs the same kernel on the same items wherever it runs, so the
   * numbers do not depend on who ran what.
   */
  private share(parts: number, post: (c: Int32Array, at: number, share: number) => void, run: (share: number) => number): number {
    const c = this.control;
    const sequence = (this.sequence = this.sequence >= LAST_SEQUENCE ? 1 : this.sequence + 1);
    for (let w = 1; w < parts; w++) {
      const at = (w - 1) * SLOT;
      post(c, at, w);
      Atomics.store(c, at + CLAIM, -sequence);
      Atomics.store(c, at + POSTED, sequence);
      Atomics.notify(c, at + POSTED, 1);
    }
    let bad = -1;
    let error: unknown = null;
    const take = (result: number): void => {
      if (result >= 0 && (bad < 0 || result < bad)) bad = result;
    };
    try {
      take(run(0));
    } catch (e) {
      error = e;
    }
    // Every share is settled before returning, even after a throw: the next call rewrites what workers read.
    for (let w = 1; w < parts; w++) {
      const at = (w - 1) * SLOT;
      if (Atomics.compareExchange(c, at + CLAIM, -sequence, sequence) === -sequence) {
        // Taken back: after a throw it is simply not run.
        if (error !== null) continue;
        try {
          take(run(w));
        } catch (e) {
          error = e;
        }
        continue;
      }
      const result = this.waitFor(at, sequence);
      if (result === FAILED) error ??= new Error(`attnstream thread pool: the kernel trapped on worker ${w}`);
      else take(result);
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
