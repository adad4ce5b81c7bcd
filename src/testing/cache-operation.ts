/**
 * One step of a {@link checkCacheLaws} case. `engine` picks a live engine (modulo their count, in
 * creation order), so every drawn list of operations is valid and shrinks by dropping items.
 */
export type CacheOperation =
  /** `e.push(x)`: must return what a fresh engine fed the same history returns. */
  | { readonly type: 'push'; readonly engine: number; readonly x: readonly number[] }
  /** `e.flush()`: likewise. */
  | { readonly type: 'flush'; readonly engine: number }
  /** `e.fork()`: a new live engine with the same history; both go on independently. */
  | { readonly type: 'fork'; readonly engine: number }
  /** `e.truncate(min(length, e.length))`: afterwards like a fresh engine fed the first tokens. */
  | { readonly type: 'truncate'; readonly engine: number; readonly length: number }
  /** `restore(e.snapshot())`: a new live engine with the same history (only when both exist). */
  | { readonly type: 'snapshot'; readonly engine: number }
  /** `e.dispose()` (only when it exists and another engine stays live): the others go on unaffected. */
  | { readonly type: 'dispose'; readonly engine: number };
