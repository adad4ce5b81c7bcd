import type { AttentionOptions } from '../attention/index.js';
import type { CacheOperation } from './cache-operation.js';

/**
 * What went wrong in a failing case.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { AttentionOptions, Vector } from 'attnstream';
 * import { checkIncremental, VerificationError } from 'attnstream/testing';
 * import type { MismatchKind } from 'attnstream/testing';
 * // Wrong on purpose: flush() forgets the steps still waiting for look-ahead tokens.
 * const forgetsFlush = (options: AttentionOptions) => {
 *   const engine = createAttention(options);
 *   return { push: (x: Vector) => engine.push(x), flush: () => [] };
 * };
 * try {
 *   checkIncremental(forgetsFlush);
 * } catch (e) {
 *   if (!(e instanceof VerificationError)) throw e;
 *   const kind: MismatchKind = e.mismatch.kind;
 *   console.log(kind, e.mismatch.call); // emission flush()
 * }
 * ```
 */
export type MismatchKind =
  /** An output differs from the reference by more than allowed, or leaves the hull of the attended values. */
  | 'output'
  /** Attention weights differ, do not sum to 1, have the wrong count, or are missing although the options say `withWeights: true`. */
  | 'weights'
  /** The attended positions differ from the mask's. */
  | 'positions'
  /** A call returned the steps of other tokens than it should, or in another order. */
  | 'emission'
  /** An output holds NaN or ±Infinity. */
  | 'non-finite'
  /** An output array changed after it was returned, or a call wrote into the input vector it was given. */
  | 'mutated'
  /** `length` disagrees with the tokens the engine holds. */
  | 'length'
  /** A call threw (or a cache operation refused) where it should not. */
  | 'threw'
  /** The reference itself refused the generated case: the options arbitrary draws invalid options. */
  | 'invalid-case';

/**
 * The first disagreement in a failing case, in numbers; {@link VerificationError} also says it in words.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { AttentionOptions } from 'attnstream';
 * import { checkIncremental, VerificationError } from 'attnstream/testing';
 * // Wrong on purpose: the scores are never scaled by 1/√headDim.
 * const unscaled = (options: AttentionOptions) => createAttention({ ...options, scale: 1 });
 * try {
 *   checkIncremental(unscaled);
 * } catch (e) {
 *   if (!(e instanceof VerificationError)) throw e;
 *   const { kind, call, token, error, allowed } = e.mismatch;
 *   console.log(kind, call, token, error! > allowed!); // e.g. output push(x1) 1 true
 * }
 * ```
 */
export interface Mismatch {
  /** What went wrong. */
  readonly kind: MismatchKind;
  /** The call that returned or threw the wrong thing, e.g. `push(x3)`, `flush()`, `e1.truncate(2)`. */
  readonly call: string;
  /** The token whose step is wrong, when a step is. */
  readonly token?: number;
  /** The query head, for weights. */
  readonly head?: number;
  /** The element (of the output, or of one head's weights) with the worst error. */
  readonly element?: number;
  /** The correct output (or head weights): from the reference, or from a fresh engine for cache laws. */
  readonly expected?: readonly number[];
  /** What the implementation returned there (the output, or the head's weights). */
  readonly actual?: readonly number[];
  /** |actual − expected| at `element`. */
  readonly error?: number;
  /** What the tolerance allowed at `element`. */
  readonly allowed?: number;
  /** One sentence. */
  readonly description: string;
}

/**
 * The shrunk failing case.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { AttentionOptions } from 'attnstream';
 * import { checkIncremental, referenceAttention, VerificationError } from 'attnstream/testing';
 * // Wrong on purpose: every engine gets a one-token window.
 * const tooNarrow = (options: AttentionOptions) => createAttention({ ...options, window: 1 });
 * try {
 *   checkIncremental(tooNarrow);
 * } catch (e) {
 *   if (!(e instanceof VerificationError)) throw e;
 *   const { options, inputs } = e.counterexample;
 *   console.log(referenceAttention(inputs!, options)); // the steps the implementation should have returned
 * }
 * ```
 */
export interface Counterexample {
  /** The options of the failing case, as drawn. */
  readonly options: AttentionOptions;
  /** checkIncremental: the tokens pushed, in order, before flush(). */
  readonly inputs?: readonly (readonly number[])[];
  /** checkCacheLaws: the operations applied, engine indices as drawn (taken modulo the live engines). */
  readonly operations?: readonly CacheOperation[];
}

/**
 * Thrown by {@link checkIncremental} and {@link checkCacheLaws} when an implementation breaks a
 * property. Its message shows the shrunk counterexample (options, inputs, the call and step,
 * expected vs actual, the error and what was allowed) and the seed and path that replay it; the
 * same facts are fields, for tests that want to assert on them.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { AttentionOptions } from 'attnstream';
 * import { checkIncremental, VerificationError } from 'attnstream/testing';
 * // Wrong on purpose: every engine gets a one-token window.
 * const tooNarrow = (options: AttentionOptions) => createAttention({ ...options, window: 1 });
 * try {
 *   checkIncremental(tooNarrow);
 * } catch (e) {
 *   if (!(e instanceof VerificationError)) throw e;
 *   console.log(e.counterexample.inputs, e.mismatch.kind, e.seed); // e.g. [[0], [0.1]] 'output' 1234
 * }
 * ```
 */
export class VerificationError extends Error {
  /** The shrunk case. */
  readonly counterexample: Counterexample;
  /** The first disagreement in it, in numbers. */
  readonly mismatch: Mismatch;
  /** Pass `{ seed, path }` back to the same check to replay exactly this case. */
  readonly seed: number;
  /** The shrink path to this case; with `seed` it replays exactly this case. */
  readonly path: string;
  /** Cases run until the first failure. */
  readonly numRuns: number;
  /** Successful shrink steps from the first failure to this case. */
  readonly numShrinks: number;

  constructor(
    message: string,
    fields: { counterexample: Counterexample; mismatch: Mismatch; seed: number; path: string; numRuns: number; numShrinks: number },
  ) {
    super(message);
    this.name = 'VerificationError';
    this.counterexample = fields.counterexample;
    this.mismatch = fields.mismatch;
    this.seed = fields.seed;
    this.path = fields.path;
    this.numRuns = fields.numRuns;
    this.numShrinks = fields.numShrinks;
  }
}
