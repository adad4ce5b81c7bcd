import { startThreadPool } from '../kernels/wasm/start-thread-pool.js';
import { WORKER_LOOP_SOURCE } from '../kernels/wasm/thread-pool.js';
import type { ThreadPool, WorkerData } from '../kernels/wasm/thread-pool.js';

export { ThreadPool } from '../kernels/wasm/thread-pool.js';

// A browser's, declared here because the library compiles without the DOM's types.
interface WebWorker {
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
  postMessage(message: unknown): void;
  terminate(): void;
}
declare const Worker: new (url: string) => WebWorker;
declare const Blob: new (parts: string[], options: { type: string }) => object;
declare const URL: { createObjectURL(blob: object): string; revokeObjectURL(url: string): void };

/**
 * attnstream/threads in a browser: {@link ThreadPool}s over Web Workers, what bundlers load for
 * `import { createThreadPool } from 'attnstream/threads'` through the `browser` export condition.
 * The same pool as in Node (see src/threads/create-thread-pool.ts): each step's items in shares,
 * bit for bit one thread's results. Two things differ. The page must be cross-origin isolated
 * (served with `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy:
 * require-corp`), or there is no SharedArrayBuffer and the pool is refused. And a page's main
 * thread may not block, so while its workers finish their shares it polls instead of sleeping;
 * run the engines in a worker of your own to keep the page responsive.
 *
 * @param threads at least 1, the calling thread included (`navigator.hardwareConcurrency` is the
 *   machine's cores).
 * @throws AttentionError INVALID_OPTION for a threads count that is not an integer from 1 to 1,024, or on
 *   a page that is not cross-origin isolated.
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
export async function createThreadPool(threads: number): Promise<ThreadPool> {
  const url = URL.createObjectURL(new Blob([SOURCE], { type: 'text/javascript' }));
  try {
    return await startThreadPool(threads, (data, slot) => startWebWorker(url, data, slot));
  } finally {
    URL.revokeObjectURL(url);
  }
}

// The worker waits for its data (the kernels' module, the shared memory, the control buffer), then runs the loop.
const SOURCE = `onmessage = (event) => {
  onmessage = null;
  (${WORKER_LOOP_SOURCE})(event.data, () => postMessage('ready'));
};`;

function startWebWorker(url: string, data: WorkerData, slot: number): Promise<WebWorker> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(url);
    worker.onmessage = () => {
      worker.onmessage = null;
      worker.onerror = null;
      resolve(worker);
    };
    worker.onerror = (event) => {
      worker.terminate();
      // A worker the page may not start (a Content-Security-Policy without blob: in worker-src)
      // fails with no message at all.
      const why = event.message || "the browser gave no reason; a Content-Security-Policy must allow workers from blob: URLs (worker-src 'self' blob:)";
      reject(new Error(`attnstream thread pool: worker ${slot} failed to start: ${why}`));
    };
    // The kernels' module, the shared memory and the control buffer: all structured-cloneable.
    worker.postMessage(data);
  });
}
