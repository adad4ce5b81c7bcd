/**
 * One token's attention output. Every array in it is fresh: later pushes never overwrite it.
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
