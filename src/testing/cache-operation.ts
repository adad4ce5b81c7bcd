/**
 * One step of a {@link checkCacheLaws} case. `engine` picks a live engine (modulo their count, in
 * creation order), so every drawn list of operations is valid and shrinks by dropping items.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { AttentionOptions } from 'attnstream';
 * import { checkCacheLaws, VerificationError } from 'attnstream/testing';
 * import type { CacheOperation } from 'attnstream/testing';
 * // Wrong on purpose: fork() returns an empty engine instead of one with the same history.
 * const forgetfulFork = (options: AttentionOptions) => Object.assign(createAttention(options), { fork: () => createAttention(options) });
 * try {
 *   checkCacheLaws(forgetfulFork);
 * } catch (e) {
 *   if (!(e instanceof VerificationError)) throw e;
 *   const operations: readonly CacheOperation[] = e.counterexample.operations!;
 *   console.log(operations); // e.g. [{ type: 'push', engine: 0, x: [0] }, { type: 'fork', engine: 0 }]
 * }
 * ```
 */
export type CacheOperation =
  /** `e.push(x)`: must return what a fresh engine fed the same history returns. */
  | {
      /** Push one token. */
      readonly type: 'push';
      /** Which live engine, taken modulo their count. */
      readonly engine: number;
      /** The token, fitted to the options' dim. */
      readonly x: readonly number[];
    }
  /** `e.flush()`: likewise. */
  | {
      /** Flush the steps waiting for look-ahead. */
      readonly type: 'flush';
      /** Which live engine, taken modulo their count. */
      readonly engine: number;
    }
  /** `e.fork()`: a new live engine with the same history; both go on independently. */
  | {
      /** Fork, adding a live engine. */
      readonly type: 'fork';
      /** Which live engine, taken modulo their count. */
      readonly engine: number;
    }
  /**
   * `e.truncate(length)`, or past the length `n` e holds, `e.truncate(n − (length − n) mod (n + 1))`
   * (a length e holds, most often one below n: drawn over the whole range, most lengths would be
   * past a short history); afterwards like a fresh engine fed the first tokens.
   */
  | {
      /** Roll back. */
      readonly type: 'truncate';
      /** Which live engine, taken modulo their count. */
      readonly engine: number;
      /** Tokens to keep, capped at the engine's length. */
      readonly length: number;
    }
  /** `restore(e.snapshot())`: a new live engine with the same history (only when both exist). */
  | {
      /** Snapshot and restore, adding a live engine. */
      readonly type: 'snapshot';
      /** Which live engine, taken modulo their count. */
      readonly engine: number;
    }
  /** `e.dispose()` (only when it exists and another engine stays live): the others go on unaffected. */
  | {
      /** Dispose, removing a live engine. */
      readonly type: 'dispose';
      /** Which live engine, taken modulo their count. */
      readonly engine: number;
    };
