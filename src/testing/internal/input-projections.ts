import type { AttentionOptions, AttentionWeights, Vector } from '../../attention/index.js';
import { AttentionError } from '../../errors.js';
import { roundToHalf } from './round-to-half.js';

/** Weights that project inputs: wq, wk and wv present. */
export type InputProjections = AttentionWeights & { readonly wq: Vector; readonly wk: Vector; readonly wv: Vector };

/**
 * The caller's projections in `options` (null in seed mode): as given, or with `weightsDtype:
 * 'bfloat16'` or `'float16'` rounded to that format as the options say they are stored (each taken
 * as float32, then rounded, by the kit's own {@link roundToHalf}; the caller's resolveOptions has
 * refused any that would overflow). The kit feeds inputs
 * x, so an engine whose caller projects (weights without wq, wk, wv: fed q, k and v by pushQKV)
 * cannot be checked.
 *
 * @throws AttentionError INVALID_ARGUMENT for weights without wq, wk and wv.
 */
export function inputProjections(options: AttentionOptions): InputProjections | null {
  const w = options.weights;
  if (w === undefined) return null;
  if (w.wq === undefined || w.wk === undefined || w.wv === undefined) {
    throw new AttentionError('INVALID_ARGUMENT', 'attnstream/testing: options.weights has no wq, wk and wv; the kit feeds inputs x, and an engine whose caller projects takes q, k and v', {
      field: 'weights',
    });
  }
  const dtype = options.weightsDtype;
  if (dtype !== 'bfloat16' && dtype !== 'float16') return w as InputProjections;
  const rounded = (v: Vector): Float32Array => Float32Array.from(v, (x) => roundToHalf(x, dtype));
  return Object.fromEntries(Object.entries(w).map(([name, v]) => [name, v === undefined ? v : rounded(v as Vector)])) as unknown as InputProjections;
}
