import { AttentionError, cutText, describeValue, quoted } from '../errors.js';
import type { FloatArray } from '../kernels/float-array.js';

/**
 * One token's attention output. Every array in it is fresh: later pushes never overwrite it.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * const attn = createAttention({ dim: 2, window: 2, withWeights: true });
 * attn.push([1, 0]);
 * attn.push([0, 1]);
 * const [step] = attn.push([1, 1]);
 * // Token 2 sees positions 1 and 2 (a window of 2), scores 1 and 2, weights softmax(1, 2).
 * console.log(step!.index, step!.positions, step!.weights![0]); // 2 Int32Array [1, 2] Float32Array [0.2689…, 0.7310…]
 * console.log(step!.output); // Float32Array [0.7310…, 1]: 0.2689·[0, 1] + 0.7310·[1, 1]
 * ```
 */
export interface AttentionStep<Output extends FloatArray = FloatArray> {
  /** 0-based stream position of the token this output belongs to. */
  readonly index: number;
  /**
   * The output: dim numbers (after wo), or heads·headDim (head outputs concatenated) without wo.
   * A Float32Array in precision float32, a Float64Array in float64: an engine whose options say
   * which (`createAttention({ dim, precision: 'float64' })`, or none: float32) is typed with it.
   */
  readonly output: Output;
  /** With `withWeights`: the positions attended, ascending. */
  readonly positions?: Int32Array | undefined;
  /**
   * With `withWeights`: one array per query head, aligned with `positions`; each sums to 1, or
   * with `sinkLogits` to 1 less the sink's share (its weight weighs no value and is not listed).
   */
  readonly weights?: Output[] | undefined;
}

/**
 * The most tokens one stream holds: 2³¹, so that every position fits the Int32 of
 * {@link AttentionStep.positions} and of a snapshot's `positions` tensor. Pushing past it is refused
 * (OUT_OF_RANGE, nothing changed); `reset()` starts the stream again. At 100,000 tokens a second
 * that is six hours of one stream.
 *
 * @example
 * ```ts
 * import { MAX_STREAM_LENGTH } from 'attnstream';
 * console.log(MAX_STREAM_LENGTH); // 2147483648
 * ```
 */
export const MAX_STREAM_LENGTH = 2 ** 31;

/**
 * What one call's steps carry, chosen per call: a push, a prompt, a flush or a pushEach, like the
 * `need_weights` of `torch.nn.MultiheadAttention.forward`. An engine made without `withWeights`
 * (no weights allocated on every step) still gives one step's weights when they are wanted, and a
 * step's numbers are the same either way.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * const attn = createAttention({ dim: 2 }); // withWeights off: steps carry their outputs only
 * attn.push([1, 0]);
 * const [step] = attn.push([0, 1], { withWeights: true }); // this step's weights, on demand
 * console.log(step!.positions, step!.weights![0]); // Int32Array [0, 1] Float32Array [0.2689…, 0.7310…]
 * ```
 */
export interface StepOptions {
  /** Whether the call's steps carry `positions` and `weights`. Default: the engine's `withWeights` option. */
  readonly withWeights?: boolean | undefined;
}

/**
 * Whether `operation`'s steps carry weights: `options.withWeights`, or `fallback` (the engine's
 * option) when it is absent.
 *
 * @throws AttentionError INVALID_ARGUMENT for options that are not an object, an unknown option, or
 *   a `withWeights` that is not a boolean.
 */
export function stepWeights(options: StepOptions | undefined, operation: string, fallback: boolean): boolean {
  if (options === undefined) return fallback;
  if (options === null || typeof options !== 'object') {
    throw new AttentionError('INVALID_ARGUMENT', `${operation}: options must be an object { withWeights? }, got ${describeValue(options)}`, { field: 'options' });
  }
  for (const key of Object.keys(options)) {
    if (key !== 'withWeights') throw new AttentionError('INVALID_ARGUMENT', `${operation}: ${quoted(key)} is not an option (known: withWeights)`, { field: cutText(key) });
  }
  const withWeights: unknown = options.withWeights ?? fallback;
  if (typeof withWeights !== 'boolean') {
    throw new AttentionError('INVALID_ARGUMENT', `${operation}: withWeights must be a boolean, got ${describeValue(withWeights)}`, { field: 'withWeights' });
  }
  return withWeights;
}

/**
 * The refusal of a step whose score for query `token`, head `head`, overflowed a double (the
 * float64 path's; a float32 engine's sums of float32 numbers do not). The scale is named because
 * a huge one overflows whatever the sums.
 */
export function scoreOverflow(token: number, head: number): AttentionError {
  return new AttentionError('NON_FINITE', `score of token ${token}, head ${head} overflowed: scale·q·k exceeds the range of a double`, {
    field: 'score',
    token,
  });
}
