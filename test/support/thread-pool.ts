import { afterAll, beforeAll } from 'vitest';
import type { ThreadPool } from '../../src/index.js';
import { createThreadPool } from '../../src/threads/index.js';

/** A pool of `threads` started before the file's tests and closed after them; call the result inside a test. */
export function filePool(threads = 2): () => ThreadPool {
  let pool: ThreadPool | null = null;
  beforeAll(async () => {
    pool = await createThreadPool(threads);
  });
  afterAll(async () => {
    await pool?.close();
  });
  return () => pool!;
}
