import type { AttentionOptions, AttentionStep, Vector } from '../attention/index.js';

/**
 * What {@link checkIncremental} needs of an implementation: the push/flush half of the core's
 * `Attention`, so `createAttention` fits as it is and so does any object of the same shape.
 */
export interface IncrementalAttention {
  /** Appends one token; returns the steps that became ready (token t's at once, or token t−L's with look-ahead L). */
  push(x: Vector): readonly AttentionStep[];
  /** Returns the steps still waiting for look-ahead tokens, computed over the tokens there are. */
  flush(): readonly AttentionStep[];
}

/** Builds a fresh implementation for `options`, e.g. `createAttention`. */
export type AttentionFactory<Engine> = (options: AttentionOptions) => Engine;
