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
export interface AttentionStep {
  /** 0-based stream position of the token this output belongs to. */
  readonly index: number;
  /** The output: dim numbers (after wo), or heads·headDim (head outputs concatenated) without wo. */
  readonly output: Float32Array | Float64Array;
  /** With `withWeights`: the positions attended, ascending. */
  readonly positions?: Int32Array;
  /** With `withWeights`: one array per query head, aligned with `positions`; each sums to 1. */
  readonly weights?: (Float32Array | Float64Array)[];
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
