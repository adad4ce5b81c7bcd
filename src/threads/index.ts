/**
 * attnstream/threads: decode steps split across Node worker_threads. Node only (the core stays
 * free of Node built-ins); the pool type itself is exported by the core as `ThreadPool`.
 */
export { createThreadPool } from './create-thread-pool.js';
export { ThreadPool } from '../kernels/wasm/thread-pool.js';
