/**
 * attnstream/threads: decode steps split across Node worker_threads (this entry; its
 * create-thread-pool.ts is the one module that imports a Node built-in) or, for bundlers that honour the `browser` export condition, Web
 * Workers (./browser.ts). The pool type itself is exported by the core as `ThreadPool`.
 */
export { createThreadPool } from './create-thread-pool.js';
export { ThreadPool } from '../kernels/wasm/thread-pool.js';
