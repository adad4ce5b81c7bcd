import type { AttentionOptions, AttentionWeights, Vector } from '../../attention/index.js';
import { AttentionError } from '../../errors.js';
import { roundToBfloat16 } from '../../kernels/bfloat16.js';

/** Weights that project inputs: wq, wk and wv present. */
export type InputProjections = AttentionWeights & { readonly wq: Vector; readonly wk: Vector; readonly wv: Vector };

/**
 * The caller's projections in `options` (null in seed mode): as given, or with `weightsDtype:
 * 'bfloat16'` rounded to bfloat16 as the options say they are stored (each taken as float32, then
 * rounded; the caller's resolveOptions has refused any that would overflow). The kit feeds inputs
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
  if (options.weightsDtype !== 'bfloat16') return w as InputProjections;
  const rounded = (v: Vector): Float32Array => {
    const copy = Float32Array.from(v);
    roundToBfloat16(copy);
    return copy;
  };
  return Object.fromEntries(Object.entries(w).map(([name, v]) => [name, v === undefined ? v : rounded(v as Vector)])) as unknown as InputProjections;
}
