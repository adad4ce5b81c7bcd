import type { AttentionOptions, Vector } from '../attention/index.js';

/**
 * A step as an implementation under check returns it: the core's `AttentionStep` fits, and so do
 * plain arrays (the checks read every array as array-like numbers).
 *
 * @example
 * ```ts
 * import type { CheckedStep } from 'attnstream/testing';
 * const step: CheckedStep = { index: 0, output: [0.5, 1], positions: [0], weights: [[1]] };
 * console.log(step.output.length); // 2
 * ```
 */
export interface CheckedStep {
  /** 0-based stream position of the token the output belongs to. */
  readonly index: number;
  /** The output numbers. */
  readonly output: ArrayLike<number>;
  /** The positions attended, ascending, when the implementation reports weights. */
  readonly positions?: ArrayLike<number> | undefined;
  /** One array of weights per query head, aligned with `positions`, when it reports them. */
  readonly weights?: readonly ArrayLike<number>[] | undefined;
}

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
  push(x: Vector): readonly CheckedStep[];
  /** Returns the steps still waiting for look-ahead tokens, computed over the tokens there are. */
  flush(): readonly CheckedStep[];
  /** Releases the engine, when it has resources to give back: called once its case is done, pass or fail (what it throws then is not judged). */
  readonly dispose?: (() => void) | undefined;
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
  push(x: Vector): Awaitable<readonly CheckedStep[]>;
  /** Gives the steps still waiting for look-ahead tokens, as {@link IncrementalAttention.flush}. */
  flush(): Awaitable<readonly CheckedStep[]>;
  /** Releases the engine (a GPU's buffers, a worker), as {@link IncrementalAttention.dispose}. */
  readonly dispose?: (() => Awaitable<void>) | undefined;
}
