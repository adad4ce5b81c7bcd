import { decodeSafetensors } from '../cache/safetensors.js';
import { AttentionError, shownText } from '../errors.js';
import { AttentionEngine } from './create-attention.js';
import { CrossAttentionEngine } from './create-cross-attention.js';
import { EngineStack } from './create-attention-stack.js';
import type { Attention } from './attention.js';
import type { AttentionOptions, RunOptions } from './options.js';
import { restoreState } from './restore-state.js';
import { assertKnownTensors, ATTENTION_FORMAT, READABLE_SNAPSHOT_VERSIONS } from './snapshot-state.js';
import type { FloatArray } from '../kernels/float-array.js';

/**
 * Rebuilds an engine from {@link Attention.snapshot}'s bytes. The restored engine continues bit for
 * bit as the original would have on the same kernels: the file does not hold them, so restore an
 * engine made with `kernels: 'js'` with `{ kernels: 'js' }`.
 *
 * @param options either the engine's options, which must agree with the snapshot's on everything
 *   that shapes the numbers, the weights included (a guard against restoring the wrong layer or
 *   model; required, with the weights, for a snapshot taken with `{ weights: false }`), or only
 *   {@link RunOptions} (no `dim`), the rest taken from the file. Either way their `kernels`,
 *   `threads` and `withWeights`, when given, choose how the restored engine runs and what its
 *   steps carry. Without options the engine runs on the default kernels, with the snapshot's
 *   `withWeights`. Or a live engine of the model (`model`): the snapshot must agree with its
 *   options as above (its weights by their fingerprint when it was saved without them), and the
 *   restored engine shares them, as a fork would: no copy of the weights is made, it runs as the
 *   model does (kernels, pool, withWeights), and it goes through {@link pushEach} with the
 *   model's forks, so that a server restores a session straight into its batch.
 * @throws AttentionError CORRUPT_SNAPSHOT for malformed or inconsistent bytes,
 *   UNSUPPORTED_SNAPSHOT for another format or version, INVALID_OPTION when `options` (or the
 *   model's) are invalid or disagree with the snapshot; DISPOSED (`field: "model"`) for a disposed
 *   model, INVALID_ARGUMENT for a stack or a cross-attention given as the model.
 * @example
 * ```ts
 * import { createAttention, restoreAttention } from 'attnstream';
 * const attn = createAttention({ dim: 4 });
 * attn.push([1, 2, 3, 4]);
 * const resumed = restoreAttention(attn.snapshot());
 * resumed.push([0, 1, 0, 1]); // as attn.push would
 *
 * // A session of a model, saved without the weights and restored onto the model's engine.
 * const model = createAttention({ dim: 2, weights: { wq: [1, 0, 0, 1], wk: [1, 0, 0, 1], wv: [0, 1, 1, 0] } });
 * const session = model.fork();
 * session.push([1, 2]);
 * const back = restoreAttention(session.snapshot({ weights: false }), model);
 * console.log(back.options === model.options); // true: the same weights, no copy
 * ```
 */
export function restoreAttention<Output extends FloatArray>(bytes: Uint8Array, options: Attention<Output>): Attention<Output>;
export function restoreAttention(bytes: Uint8Array, options?: AttentionOptions | RunOptions | Attention): Attention;
export function restoreAttention(bytes: Uint8Array, options?: AttentionOptions | RunOptions | Attention): Attention {
  if (options instanceof EngineStack) {
    throw new AttentionError('INVALID_ARGUMENT', "restoreAttention: the model given is a stack; a stack's snapshot is restored by restoreAttentionStack, and an engine's onto one of the stack's layers", { field: 'model' });
  }
  if (options instanceof CrossAttentionEngine) {
    throw new AttentionError('INVALID_ARGUMENT', "restoreAttention: the model given is a cross-attention; its sessions are restored by restoreCrossAttention", { field: 'model' });
  }
  const model = options instanceof AttentionEngine ? liveModel(options) : null;
  const { tensors, metadata } = decodeSafetensors(bytes, (metadata, names) => {
    assertFormat(metadata, ATTENTION_FORMAT);
    assertKnownTensors(names, null);
  });
  if (model !== null) liveModel(model);
  if (model !== null) return new AttentionEngine(restoreState(tensors, metadata, '', undefined, model.options), model);
  return new AttentionEngine(restoreState(tensors, metadata, '', options as AttentionOptions | RunOptions | undefined));
}

/**
 * `model` (an engine, or a cross-attention: `what`), refused (DISPOSED) once disposed: its weights'
 * copy may be gone. Checked again once the bytes are decoded: decoding runs their own methods (a
 * subclass's `subarray`), which may dispose the model, and a restore onto a model whose copy went
 * back to the arena read whatever was allocated there next.
 */
export function liveModel<Model extends { readonly disposed: boolean }>(model: Model, what = 'engine'): Model {
  if (model.disposed) throw new AttentionError('DISPOSED', `restore: the model ${what} given was disposed`, { field: 'model' });
  return model;
}

/** Throws UNSUPPORTED_SNAPSHOT unless the metadata names `format` at this version. */
export function assertFormat(metadata: Readonly<Record<string, string>>, format: string): void {
  if (metadata['format'] !== format) {
    throw new AttentionError('UNSUPPORTED_SNAPSHOT', `snapshot: format is ${shownText(metadata['format'])}, expected "${format}"`, { field: 'format' });
  }
  if (!READABLE_SNAPSHOT_VERSIONS.includes(metadata['version']!)) {
    const readable = READABLE_SNAPSHOT_VERSIONS.join(' and ');
    throw new AttentionError('UNSUPPORTED_SNAPSHOT', `snapshot: version ${shownText(metadata['version'])} is not supported (this build reads ${readable})`, {
      field: 'version',
    });
  }
}
