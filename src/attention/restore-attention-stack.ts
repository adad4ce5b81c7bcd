import { decodeSafetensors } from '../cache/safetensors.js';
import { AttentionError } from '../errors.js';
import { AttentionEngine } from './create-attention.js';
import { EngineStack, layerOptions } from './create-attention-stack.js';
import type { AttentionStack, AttentionStackOptions } from './create-attention-stack.js';
import type { RunOptions } from './options.js';
import { assertFormat, liveModel } from './restore-attention.js';
import { restoreState } from './snapshot-state.js';

/** Hard cap on layers read from a file, so a corrupt count cannot make the reader loop for long. */
const MAX_LAYERS = 4096;

/**
 * Rebuilds a stack from {@link AttentionStack.snapshot}'s bytes; every layer continues bit for bit
 * on the same kernels (the file does not hold them: see {@link restoreAttention}).
 *
 * @param options either the stack's options as {@link createAttentionStack} takes them (the layer
 *   count and each layer's options must agree with the snapshot as for {@link restoreAttention}),
 *   or only {@link RunOptions} for every layer (no `layers`), the rest taken from the file: e.g.
 *   `{ threads: pool }` puts a saved stack back on a thread pool. Or a live stack of the model: each
 *   layer restored onto its engine as {@link restoreAttention} does, sharing its weights (no copy)
 *   and going through {@link pushEach} with its forks' layers.
 * @throws AttentionError CORRUPT_SNAPSHOT or UNSUPPORTED_SNAPSHOT as {@link restoreAttention}, and
 *   CORRUPT_SNAPSHOT when the layers disagree on their length; INVALID_OPTION when `options` are
 *   invalid or disagree with the snapshot.
 * @example
 * ```ts
 * import { createAttentionStack, restoreAttentionStack } from 'attnstream';
 * const options = { layers: 2, dim: 4 };
 * const stack = createAttentionStack(options);
 * const saved = stack.snapshot();
 * const resumed = restoreAttentionStack(saved, { ...options, withWeights: true });
 * console.log(resumed.layer(1).push([1, 0, 0, 1])[0]!.weights![0]); // Float32Array [1]
 * ```
 */
export function restoreAttentionStack(bytes: Uint8Array, options?: AttentionStackOptions | RunOptions | AttentionStack): AttentionStack {
  if (options instanceof EngineStack) return restoreOnto(bytes, options);
  const guarded = options !== undefined && options !== null && typeof options === 'object' && 'layers' in options;
  const expected = guarded ? layerOptions(options as AttentionStackOptions) : null;
  const { tensors, metadata } = decodeSafetensors(bytes);
  assertFormat(metadata, 'attnstream.stack');
  const layers = Number(metadata['layers']);
  if (!Number.isInteger(layers) || layers < 1 || layers > MAX_LAYERS) {
    throw new AttentionError('CORRUPT_SNAPSHOT', `snapshot: layers metadata must be an integer from 1 to ${MAX_LAYERS}, got ${String(metadata['layers'])}`, { field: 'layers' });
  }
  if (expected !== null && expected.length !== layers) {
    throw new AttentionError('INVALID_OPTION', `option layers is ${expected.length} but the snapshot was taken with ${layers}`, { field: 'layers' });
  }
  const engines = Array.from(
    { length: layers },
    (_, i) => new AttentionEngine(restoreState(tensors, metadata, `layers.${i}.`, expected === null ? (options as RunOptions | undefined) : expected[i])),
  );
  return alignedStack(engines);
}

/** A stack restored onto `model`'s layers, each layer as {@link restoreAttention} onto an engine. */
function restoreOnto(bytes: Uint8Array, model: EngineStack): AttentionStack {
  const layers = Array.from({ length: model.depth }, (_, i) => liveModel(model.layer(i) as AttentionEngine));
  const { tensors, metadata } = decodeSafetensors(bytes);
  assertFormat(metadata, 'attnstream.stack');
  if (metadata['layers'] !== String(layers.length)) {
    throw new AttentionError('INVALID_OPTION', `the model has ${layers.length} layers but the snapshot was taken with ${String(metadata['layers'])}`, { field: 'layers' });
  }
  return alignedStack(layers.map((layer, i) => new AttentionEngine(restoreState(tensors, metadata, `layers.${i}.`, undefined, layer.options), layer)));
}

/** The stack of `engines`, refused (CORRUPT_SNAPSHOT) when the file's layers disagree on their length. */
function alignedStack(engines: AttentionEngine[]): AttentionStack {
  if (engines.some((e) => e.length !== engines[0]!.length)) {
    throw new AttentionError('CORRUPT_SNAPSHOT', `snapshot: layers disagree on their length (${engines.map((e) => e.length).join(', ')})`, { field: 'layers' });
  }
  return new EngineStack(engines);
}
