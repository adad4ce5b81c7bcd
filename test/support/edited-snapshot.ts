import { createAttentionStack } from '../../src/index.js';
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

/** A two-layer stack's file whose layer 0 holds 2 tokens and layer 1 holds 3 (taken from another stack's file). */
export function unequalLayersFile(): Uint8Array {
  const stackOf = (tokens: number) => {
    const stack = createAttentionStack({ layers: 2, dim: 2 });
    for (let t = 0; t < tokens; t++) for (let i = 0; i < 2; i++) stack.layer(i).push([1, t]);
    return decodeSafetensors(stack.snapshot());
  };
  const [two, three] = [stackOf(2), stackOf(3)];
  const tensors = new Map(two.tensors);
  for (const [name, tensor] of three.tensors) if (name.startsWith('layers.1.')) tensors.set(name, tensor);
  const layer1 = Object.fromEntries(Object.entries(three.metadata).filter(([key]) => key.startsWith('layers.1.')));
  return encodeSafetensors(Object.fromEntries(tensors), { ...two.metadata, ...layer1 });
}
