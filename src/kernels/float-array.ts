/**
 * The typed arrays every kernel reads and writes: Float32Array at `precision: 'float32'` (the
 * default), Float64Array at 'float64'. {@link ResolvedOptions} holds the weights in one.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { FloatArray } from 'attnstream';
 * const attn = createAttention({ dim: 2, precision: 'float64', weights: { wq: [1, 0, 0, 1], wk: [1, 0, 0, 1], wv: [0, 1, 2, 0] } });
 * const wv: FloatArray = attn.options.weights!.wv!;
 * console.log(wv); // Float64Array [0, 1, 2, 0]: the caller's numbers, copied at the engine's precision
 * ```
 */
export type FloatArray = Float32Array | Float64Array;

/**
 * A constructor of {@link FloatArray}, chosen once from the engine's precision: the type of
 * {@link ResolvedOptions.Float}.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { FloatArrayConstructor } from 'attnstream';
 * const attn = createAttention({ dim: 4 });
 * const Float: FloatArrayConstructor = attn.options.Float; // Float32Array: the default precision
 * const out = new Float(attn.options.outputDim); // Float32Array(4): the precision and length of the engine's outputs
 * ```
 */
export type FloatArrayConstructor = Float32ArrayConstructor | Float64ArrayConstructor;
