import { expect } from 'vitest';
import { createAttention } from '../../src/index.js';
import type { Attention } from '../../src/index.js';
import { decodeSafetensors } from '../../src/cache/safetensors.js';

/** Block 0's int8 keys and their scales, as the engine's snapshot saves them. */
export function firstBlock(attn: Attention): { keysInt8: Int8Array; keyScales: Float32Array } {
  const { tensors } = decodeSafetensors(attn.snapshot());
  expect(Array.from(tensors.get('key_blocks')!.data)).toEqual([0]);
  return { keysInt8: tensors.get('keys_int8')!.data as Int8Array, keyScales: tensors.get('key_scales')!.data as Float32Array };
}

/** An int8 engine's file whose block 0 (3 positions) is quantized and block 1 is being filled again on its floors. */
export function refillingFile(precision: 'float32' | 'float64' = 'float32'): Uint8Array {
  const attn = createAttention({ dim: 2, blockSize: 3, precision, cacheDtype: 'int8' });
  attn.pushMany([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2], [2, -3], [1, 1], [0, 0.5]]);
  attn.truncate(4);
  attn.push([0.25, -0.25]);
  return attn.snapshot();
}
