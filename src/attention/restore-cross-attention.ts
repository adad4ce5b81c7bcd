import { decodeSafetensors } from '../cache/safetensors.js';
import { AttentionError } from '../errors.js';
import { AttentionEngine } from './create-attention.js';
import { EngineStack } from './create-attention-stack.js';
import { CrossAttentionEngine, crossOptions } from './create-cross-attention.js';
import type { CrossAttention, CrossAttentionOptions } from './create-cross-attention.js';
import type { RunOptions } from './options.js';
import { assertFormat, liveModel } from './restore-attention.js';
import { integerField, restoreState } from './restore-state.js';
import { assertKnownTensors, CROSS_ATTENTION_FORMAT } from './snapshot-state.js';
import type { FloatArray } from '../kernels/float-array.js';

/**
 * A cross-attention from its {@link CrossAttention.snapshot}: the same weights, the same memory
 * (its keys and values as they were projected, not projected again) and the same next query index,
 * so it attends bit for bit as the original would on the same kernels. `options` as for
 * {@link restoreAttention}: the options it was made with (checked against the file, weights
 * included; required, with the weights, for a file saved with `{ weights: false }`), only the run
 * choices (`kernels`, `threads`, `withWeights`), nothing, or **the model's cross-attention**: a
 * session saved without its weights restored onto the model's, sharing its weights' copy as a
 * fork does.
 *
 * @throws AttentionError UNSUPPORTED_SNAPSHOT for another format (an engine's snapshot) or version;
 *   CORRUPT_SNAPSHOT as {@link restoreAttention}, and for stored options a cross-attention does not
 *   take; INVALID_OPTION where the options disagree with the file; DISPOSED for a disposed model,
 *   INVALID_ARGUMENT (`field: "model"`) for an engine or a stack given as the model.
 * @example
 * ```ts
 * import { createCrossAttention, restoreCrossAttention } from 'attnstream';
 * const cross = createCrossAttention({ dim: 2, precision: 'float64' });
 * cross.setMemory([[1, 0], [0, 1]]);
 * const back = restoreCrossAttention(cross.snapshot());
 * console.log(back.attend([2, 0]).output); // Float64Array [0.8807…, 0.1192…]
 * ```
 */
export function restoreCrossAttention<Output extends FloatArray>(bytes: Uint8Array, options: CrossAttention<Output>): CrossAttention<Output>;
export function restoreCrossAttention(bytes: Uint8Array, options?: CrossAttentionOptions | RunOptions | CrossAttention): CrossAttention;
export function restoreCrossAttention(bytes: Uint8Array, options?: CrossAttentionOptions | RunOptions | CrossAttention): CrossAttention {
  if (options instanceof AttentionEngine || options instanceof EngineStack) {
    throw new AttentionError('INVALID_ARGUMENT', `restoreCrossAttention: the model given is ${options instanceof AttentionEngine ? 'a self-attention engine' : 'a stack'}; a cross-attention's snapshot is restored onto the model's cross-attention`, { field: 'model' });
  }
  const model = options instanceof CrossAttentionEngine ? liveModel(options, 'cross-attention') : null;
  const { tensors, metadata } = decodeSafetensors(bytes, (metadata, names) => {
    assertFormat(metadata, CROSS_ATTENTION_FORMAT);
    assertKnownTensors(names, null);
  });
  if (model !== null) liveModel(model, 'cross-attention');
  // The caller's options once the file's container, checksum and format have passed, as
  // restoreAttention checks them: a damaged file (or an engine's) is refused as such first.
  const expected = model === null && options !== undefined ? crossOptions(options as CrossAttentionOptions) : undefined;
  const state = restoreState(tensors, metadata, '', expected, model?.options ?? null);
  const o = state.options;
  const corrupt = (message: string): never => {
    state.cache.dispose();
    throw new AttentionError('CORRUPT_SNAPSHOT', `snapshot: ${message}`, { field: 'snapshot' });
  };
  if (o.positions !== 'none' || o.window !== Infinity || o.lookahead > 0 || o.retain > 0) {
    corrupt('its options place keys in a stream (positions, a window, look-ahead or retain), which a cross-attention does not');
  }
  if (o.weights !== null && o.weights.wq === null) corrupt('its weights have no wq, wk, wv, which a cross-attention needs');
  const attended = integerField(metadata['attended'], 'attended', corrupt);
  return new CrossAttentionEngine({ options: o, cache: state.cache, attended, weightsOf: model });
}
