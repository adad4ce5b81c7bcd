import { decodeSafetensors } from '../cache/safetensors.js';
import { AttentionError } from '../errors.js';
import { AttentionEngine } from './create-attention.js';
import { EngineStack } from './create-attention-stack.js';
import type { AttentionStack } from './create-attention-stack.js';
import { assertFormat } from './restore-attention.js';
import { restoreState } from './snapshot-state.js';

/** Hard cap on layers read from a file, so a corrupt count cannot make the reader loop for long. */
const MAX_LAYERS = 4096;

/**
 * Rebuilds a stack from {@link AttentionStack.snapshot}'s bytes; every layer continues bit for bit.
 *
 * @throws AttentionError CORRUPT_SNAPSHOT or UNSUPPORTED_SNAPSHOT as {@link restoreAttention}, and
 *   CORRUPT_SNAPSHOT when the layers disagree on their length.
 * @example
 * ```ts
 * import { createAttentionStack, restoreAttentionStack } from 'attnstream';
 * const stack = createAttentionStack({ layers: 2, dim: 4 });
 * const saved = stack.snapshot();
 * const resumed = restoreAttentionStack(saved);
 * ```
 */
export function restoreAttentionStack(bytes: Uint8Array): AttentionStack {
  const { tensors, metadata } = decodeSafetensors(bytes);
  assertFormat(metadata, 'attnstream.stack');
  const layers = Number(metadata['layers']);
  if (!Number.isInteger(layers) || layers < 1 || layers > MAX_LAYERS) {
    throw new AttentionError('CORRUPT_SNAPSHOT', `snapshot: layers metadata must be an integer from 1 to ${MAX_LAYERS}, got ${String(metadata['layers'])}`, { field: 'layers' });
  }
  const engines = Array.from({ length: layers }, (_, i) => new AttentionEngine(restoreState(tensors, metadata, `layers.${i}.`)));
  if (engines.some((e) => e.length !== engines[0]!.length)) {
    throw new AttentionError('CORRUPT_SNAPSHOT', `snapshot: layers disagree on their length (${engines.map((e) => e.length).join(', ')})`, { field: 'layers' });
  }
  return new EngineStack(engines);
}
