import { AttentionError, describeValue } from '../../errors.js';
import { MAX_THREADS, ThreadPool } from './thread-pool.js';
import type { PoolWorker, WorkerData } from './thread-pool.js';
import { sharedWasmArena } from './wasm-arena.js';

/**
 * Starts the worker of `slot` on `data`, which runs the pool's loop
 * (`WORKER_LOOP_SOURCE` in thread-pool.ts), and resolves once the worker says it is ready. On a failure it
 * terminates that worker and rejects.
 */
export type SpawnWorker = (data: WorkerData, slot: number) => Promise<PoolWorker>;

/**
 * What both platforms' `createThreadPool` do around starting their kind of worker: check the
 * count, make the shared arena and the control buffer, start the `threads − 1` workers with
 * `spawn` one after another (a failure terminates those already started and rethrows), and hand
 * them to a {@link ThreadPool}.
 */
export async function startThreadPool(threads: number, spawn: SpawnWorker): Promise<ThreadPool> {
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new AttentionError('INVALID_OPTION', `threads must be an integer from 1 to ${MAX_THREADS}, got ${describeValue(threads)}`, { field: 'threads' });
  }
  // A page that is not cross-origin isolated may still build shared WebAssembly memory, but it
  // cannot share the control buffer: refuse it here rather than fail in the middle of starting.
  const isolated = typeof SharedArrayBuffer === 'function' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== false;
  const arena = isolated ? sharedWasmArena() : null;
  if (arena === null) {
    // Told apart: a page that is isolated but forbids compiling WebAssembly (a Content-Security-
    // Policy without 'wasm-unsafe-eval') was told to become isolated.
    const why = isolated
      ? 'this runtime cannot compile the WebAssembly SIMD kernels over shared memory, or allocate it (no WebAssembly SIMD or threads, a Content-Security-Policy without \'wasm-unsafe-eval\', or too little memory)'
      : typeof SharedArrayBuffer === 'function'
        ? 'this page is not cross-origin isolated, so its shared memory cannot go to workers'
        : 'this runtime has no SharedArrayBuffer (a browser page must be cross-origin isolated)';
    throw new AttentionError('INVALID_OPTION', `threads: ${why}`, { field: 'threads' });
  }
  const control = ThreadPool.controlBuffer(threads - 1);
  const workers: PoolWorker[] = [];
  try {
    for (let slot = 0; slot < threads - 1; slot++) workers.push(await spawn(ThreadPool.workerData(arena, control, slot), slot));
  } catch (error) {
    await Promise.all(workers.map((worker) => worker.terminate()));
    throw error;
  }
  return ThreadPool.over(arena, control, workers);
}
