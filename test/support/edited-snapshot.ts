import { decodeSafetensors, encodeSafetensors } from '../../src/cache/safetensors.js';
import type { TensorInput } from '../../src/cache/safetensors.js';

/** `bytes` with its tensors and metadata changed by `edit`, encoded again (its checksum made anew). */
export function edited(bytes: Uint8Array, edit: (tensors: Map<string, TensorInput>, metadata: Record<string, string>) => void): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(bytes);
  const copy = new Map<string, TensorInput>(tensors);
  const meta = { ...metadata };
  edit(copy, meta);
  return encodeSafetensors(Object.fromEntries(copy), meta);
}
