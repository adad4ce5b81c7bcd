import type { AttentionOptions, AttentionStep, Vector } from '../attention/index.js';

/**
 * What {@link checkIncremental} needs of an implementation: the push/flush half of the core's
 * `Attention`, so `createAttention` fits as it is and so does any object of the same shape.
 *
 * @example
 * ```ts
 * import type { AttentionOptions, AttentionStep, Vector } from 'attnstream';
 * import { checkIncremental, referenceAttention } from 'attnstream/testing';
 * import type { IncrementalAttention } from 'attnstream/testing';
 * // The simplest implementation there is: keep every token, recompute everything, return what is due.
 * function recomputing(options: AttentionOptions): IncrementalAttention {
 *   const xs: Vector[] = [];
 *   let emitted = 0;
 *   const due = (upTo: number): AttentionStep[] => {
 *     const steps = referenceAttention(xs, options).slice(emitted, upTo);
 *     emitted = Math.max(emitted, upTo);
 *     return steps;
 *   };
 *   return {
 *     push: (x) => {
 *       xs.push(Array.from(x));
 *       return due(Math.max(emitted, xs.length - (options.lookahead ?? 0)));
 *     },
 *     flush: () => due(xs.length),
 *   };
 * }
 * checkIncremental(recomputing, { numRuns: 20 });
 * ```
 */
export interface IncrementalAttention {
  /** Appends one token; returns the steps that became ready (token t's at once, or token t−L's with look-ahead L). */
  push(x: Vector): readonly AttentionStep[];
  /** Returns the steps still waiting for look-ahead tokens, computed over the tokens there are. */
  flush(): readonly AttentionStep[];
  /** Releases the engine, when it has resources to give back: called once its case is done, pass or fail (what it throws then is not judged). */
  dispose?(): void;
}

/**
 * Builds a fresh implementation for `options`, e.g. `createAttention` (for the asynchronous checks,
 * `Engine` may be a promise of one).
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import { checkIncremental } from 'attnstream/testing';
 * import type { AttentionFactory, IncrementalAttention } from 'attnstream/testing';
 * // The engine with one-token cache blocks, whatever block size the case draws: every token crosses a block edge.
 * const oneTokenBlocks: AttentionFactory<IncrementalAttention> = (options) => createAttention({ ...options, blockSize: 1 });
 * checkIncremental(oneTokenBlocks, { numRuns: 20 });
 * ```
 */
export type AttentionFactory<Engine> = (options: AttentionOptions) => Engine;

/**
 * A value, or a promise of it: what an asynchronous implementation's calls may return.
 *
 * @example
 * ```ts
 * import type { AttentionStep } from 'attnstream';
 * import type { Awaitable } from 'attnstream/testing';
 * const now: Awaitable<readonly AttentionStep[]> = [];
 * const later: Awaitable<readonly AttentionStep[]> = Promise.resolve([]);
 * console.log(now, await later); // [] []
 * ```
 */
export type Awaitable<T> = T | PromiseLike<T>;

/**
 * What {@link checkIncrementalAsync} needs of an implementation: {@link IncrementalAttention}
 * whose calls may return promises (an engine on a GPU, in a worker, behind a server). The check
 * awaits each call before it makes the next; a synchronous implementation fits too.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { AttentionOptions } from 'attnstream';
 * import { checkIncrementalAsync } from 'attnstream/testing';
 * import type { AsyncIncrementalAttention } from 'attnstream/testing';
 * // The core engine behind a promise per call, as a worker or a GPU would answer.
 * function answeringLater(options: AttentionOptions): AsyncIncrementalAttention {
 *   const engine = createAttention(options);
 *   return { push: async (x) => engine.push(x), flush: async () => engine.flush() };
 * }
 * await checkIncrementalAsync(answeringLater, { numRuns: 20 });
 * ```
 */
export interface AsyncIncrementalAttention {
  /** Appends one token; gives the steps that became ready, as {@link IncrementalAttention.push}. */
  push(x: Vector): Awaitable<readonly AttentionStep[]>;
  /** Gives the steps still waiting for look-ahead tokens, as {@link IncrementalAttention.flush}. */
  flush(): Awaitable<readonly AttentionStep[]>;
  /** Releases the engine (a GPU's buffers, a worker), as {@link IncrementalAttention.dispose}. */
  dispose?(): Awaitable<void>;
}
