import { Worker } from 'node:worker_threads';
import { startThreadPool } from '../kernels/wasm/start-thread-pool.js';
import { WORKER_LOOP_SOURCE } from '../kernels/wasm/thread-pool.js';
import type { ThreadPool, WorkerData } from '../kernels/wasm/thread-pool.js';

/**
 * Starts a {@link ThreadPool} of `threads` threads (the calling one and `threads − 1` Node
 * worker_threads) for engines to share their decode steps across: pass it as the `threads` option
 * of `createAttention` or `createAttentionStack`. Resolves once every worker is ready.
 *
 * Each step's items (a query head over a stretch of about 1,024 of its keys, so even one head
 * splits on a long cache) go in contiguous shares, one per thread, and every thread runs the same
 * WebAssembly kernel on the same shared cache; each head's stretches are merged by log-sum-exp the
 * same way whatever the thread count, so outputs and weights are bit for bit those of one thread.
 * The workers poll for about 2 ms after a step and sleep when idle; they do not keep the process
 * alive. Each share is cut into a few chunks, and a thread done with its own share takes the
 * chunks still unclaimed from the others', so a slow worker, or one lost between steps, costs time
 * (at most the chunk it holds), not a hang (one that dies in the middle of a chunk it claimed would
 * hold the step; no worker does short of a crash of its thread). Close the pool when done with it.
 *
 * In a browser, bundlers that honour the `browser` export condition (Vite, webpack, esbuild with
 * platform browser) load the twin in src/threads/browser.ts instead: the same function over Web
 * Workers, for pages that are cross-origin isolated (SharedArrayBuffer needs it).
 *
 * @param threads at least 1 (1 is a pool that runs everything on the calling thread); more than
 *   the machine's cores only adds hand-overs.
 * @throws AttentionError INVALID_OPTION for a threads count that is not an integer from 1 to 1,024, or when
 *   the runtime has no WebAssembly SIMD with shared memory.
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import { createThreadPool } from 'attnstream/threads';
 * const pool = await createThreadPool(2);
 * const attn = createAttention({ dim: 64, heads: 8, threads: pool });
 * const [step] = attn.push(new Float32Array(64).fill(1));
 * console.log(step!.output.length); // 64
 * await pool.close();
 * ```
 */
export function createThreadPool(threads: number): Promise<ThreadPool> {
  return startThreadPool(threads, startNodeWorker);
}

// A dynamic import, which works whether Node evaluates the worker's code as CommonJS (the default)
// or as a module (a process started with --input-type=module passes that on to its workers).
const SOURCE = `import('node:worker_threads').then(({ workerData, parentPort }) =>
  (${WORKER_LOOP_SOURCE})(workerData, () => parentPort.postMessage('ready')));`;

async function startNodeWorker(data: WorkerData, slot: number): Promise<Worker> {
  const worker = new Worker(SOURCE, { eval: true, workerData: data });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`attnstream thread pool: worker ${slot} exited with code ${code} before it was ready`)));
    });
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  worker.removeAllListeners();
  // Idle workers sleep in Atomics.wait: they must not hold the process open.
  worker.unref();
  return worker;
}
