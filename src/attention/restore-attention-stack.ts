import { decodeSafetensors } from '../cache/safetensors.js';
import { AttentionError, shownText } from '../errors.js';
import { AttentionEngine } from './create-attention.js';
import { CrossAttentionEngine } from './create-cross-attention.js';
import { EngineStack, layerOptions, MAX_LAYERS } from './create-attention-stack.js';
import type { AttentionStack, AttentionStackOptions } from './create-attention-stack.js';
import type { RunOptions } from './options.js';
import { assertFormat, liveModel } from './restore-attention.js';
import { restoreState } from './restore-state.js';
import { assertKnownTensors, STACK_FORMAT } from './snapshot-state.js';
import type { EngineState } from './snapshot-state.js';
import type { FloatArray } from '../kernels/float-array.js';

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
 *   CORRUPT_SNAPSHOT when the layers disagree on their length; INVALID_OPTION when `options` (or
 *   the model's) are invalid or disagree with the snapshot; DISPOSED (`field: "model"`) when a
 *   layer of the model was disposed, INVALID_ARGUMENT for an engine or a cross-attention given as the model. A
 *   refusal leaves nothing behind: no layer restored, no hold on the model's weights.
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
export function restoreAttentionStack<Output extends FloatArray>(bytes: Uint8Array, options: AttentionStack<Output>): AttentionStack<Output>;
export function restoreAttentionStack(bytes: Uint8Array, options?: AttentionStackOptions | RunOptions | AttentionStack): AttentionStack;
export function restoreAttentionStack(bytes: Uint8Array, options?: AttentionStackOptions | RunOptions | AttentionStack): AttentionStack {
  if (options instanceof AttentionEngine || options instanceof CrossAttentionEngine) {
    throw new AttentionError('INVALID_ARGUMENT', `restoreAttentionStack: the model given is ${options instanceof AttentionEngine ? 'one engine' : 'a cross-attention'}; restore onto the model's stack, or an engine's snapshot with restoreAttention`, { field: 'model' });
  }
  const model = options instanceof EngineStack ? Array.from({ length: options.depth }, (_, i) => liveModel(options.layer(i) as AttentionEngine)) : null;
  const guarded = model === null && options !== undefined && options !== null && typeof options === 'object' && 'layers' in options;
  const expected = guarded ? layerOptions(options as AttentionStackOptions) : null;
  const { tensors, metadata } = decodeSafetensors(bytes, (metadata, names) => {
    assertFormat(metadata, STACK_FORMAT);
    assertKnownTensors(names, snapshotLayers(metadata));
  });
  model?.forEach((layer) => liveModel(layer));
  const layers = snapshotLayers(metadata);
  const given = model?.length ?? expected?.length;
  if (given !== undefined && given !== layers) {
    throw new AttentionError('INVALID_OPTION', `${model !== null ? 'the model has' : 'option layers is'} ${given}${model !== null ? ' layers' : ''} but the snapshot was taken with ${layers}`, { field: 'layers' });
  }
  // Every layer's state first, so that a refusal half-way leaves nothing behind: no cache, and no
  // hold on a model's weights.
  const states: EngineState[] = [];
  try {
    for (let i = 0; i < layers; i++) {
      const prefix = `layers.${i}.`;
      states.push(model !== null ? restoreState(tensors, metadata, prefix, undefined, model[i]!.options) : restoreState(tensors, metadata, prefix, expected === null ? (options as RunOptions | undefined) : expected[i]));
    }
    if (states.some((state) => state.cache.length !== states[0]!.cache.length)) {
      throw new AttentionError('CORRUPT_SNAPSHOT', `snapshot: layers disagree on their length (${states.map((state) => state.cache.length).join(', ')})`, { field: 'layers' });
    }
  } catch (error) {
    for (const state of states) state.cache.dispose();
    throw error;
  }
  return new EngineStack(states.map((state, i) => new AttentionEngine(state, model?.[i] ?? null)));
}

/**
 * The number of layers a stack's snapshot says it holds.
 *
 * @throws AttentionError CORRUPT_SNAPSHOT unless it is an integer from 1 to {@link MAX_LAYERS}.
 */
export function snapshotLayers(metadata: Readonly<Record<string, string>>): number {
  const layers = /^[1-9][0-9]*$/.test(metadata['layers'] ?? '') ? Number(metadata['layers']) : NaN;
  if (!(layers <= MAX_LAYERS)) {
    throw new AttentionError('CORRUPT_SNAPSHOT', `snapshot: layers metadata must be an integer from 1 to ${MAX_LAYERS}, got ${shownText(metadata['layers'])}`, { field: 'layers' });
  }
  return layers;
}
