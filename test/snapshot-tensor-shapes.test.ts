import { describe, expect, it } from 'vitest';
import { createAttention, createAttentionStack, restoreAttention, restoreAttentionStack } from '../src/index.js';
import { decodeSafetensors } from '../src/cache/safetensors.js';
import type { TensorInput } from '../src/cache/safetensors.js';
import { edited } from './support/edited-snapshot.js';
import { refusal } from './support/refusal.js';

// Found by a fuzz of corrupt snapshots: a weight was checked for its size alone, so a matrix
// stored transposed (numpy's `wq.T`, a shape of [dim, heads·headDim]) restored as another
// function; and rows of the other kind of cache (int8 rows in a float cache's file, float values
// in an int8 cache's) were ignored.

const dim = 3;
const wq = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((v) => v / 10); // 4 × 3: heads·headDim 4
const weights = { wq, wk: wq.map((v) => -v), wv: wq.map((v) => v * 0.5), wo: wq.map((_, i) => (i % 5) / 4) };
const options = { dim, heads: 2, headDim: 2, weights };

function engineFile(extra: object = {}): Uint8Array {
  const attn = createAttention({ ...options, ...extra });
  for (let t = 0; t < 5; t++) attn.push([Math.sin(t), Math.cos(t), t / 5]);
  return attn.snapshot();
}

/** `tensor` transposed: its [rows, cols] data as [cols, rows]. */
function transposed(tensor: TensorInput): TensorInput {
  const [rows, cols] = tensor.shape as [number, number];
  const data = new Float32Array(tensor.data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[c * rows + r] = tensor.data[r * cols + c]!;
  return { dtype: tensor.dtype, shape: [cols, rows], data };
}

describe('restore checks the shape of every weight tensor, and refuses the other cache kind’s rows', () => {
  it('a matrix stored transposed, flattened or of another dtype is refused, naming it and the shape expected', () => {
    const file = engineFile();
    expect(restoreAttention(file).push([1, 0, 0])).toEqual(restoreAttention(file).push([1, 0, 0]));
    const cases: [(tensor: TensorInput) => TensorInput, string][] = [
      [transposed, 'snapshot: tensor weights.wq has shape [3, 4], expected [4, 3]'],
      [(t) => ({ ...t, shape: [12] }), 'snapshot: tensor weights.wq has shape [12], expected [4, 3]'],
      [(t) => ({ dtype: 'I32', shape: t.shape, data: Int32Array.from(t.data, (v) => Math.round(v * 10)) }), 'snapshot: tensor weights.wq is I32, expected F32'],
    ];
    for (const [edit, message] of cases) {
      const bad = edited(file, (tensors) => tensors.set('weights.wq', edit(tensors.get('weights.wq')!)));
      const error = refusal(() => restoreAttention(bad));
      expect([error.code, error.message, error.details]).toEqual(['CORRUPT_SNAPSHOT', message, { field: 'snapshot' }]);
    }
    // A bias and a stack's layer likewise.
    const biased = engineFile({ weights: { ...weights, bq: [0.1, 0.2, 0.3, 0.4] } });
    const badBias = edited(biased, (tensors) => tensors.set('weights.bq', { ...tensors.get('weights.bq')!, shape: [2, 2] }));
    expect(refusal(() => restoreAttention(badBias)).message).toBe('snapshot: tensor weights.bq has shape [2, 2], expected [4]');
    const stack = createAttentionStack({ layers: 2, ...options });
    stack.layer(0).push([1, 2, 3]);
    stack.layer(1).push([1, 2, 3]);
    const badLayer = edited(stack.snapshot(), (tensors) => tensors.set('layers.1.weights.wo', transposed(tensors.get('layers.1.weights.wo')!)));
    expect(refusal(() => restoreAttentionStack(badLayer)).message).toBe('snapshot (layers.1): tensor layers.1.weights.wo has shape [4, 3], expected [3, 4]');
  });

  it("rows of the other cache's kind are refused, not ignored", () => {
    const float = engineFile();
    const int8 = engineFile({ cacheDtype: 'int8', blockSize: 4 });
    const int8Tensors = ['key_blocks', 'keys_int8', 'key_scales', 'values_int8', 'value_scales'];
    for (const name of int8Tensors) {
      const bad = edited(float, (tensors) => tensors.set(name, decodeTensor(int8, name)));
      expect(refusal(() => restoreAttention(bad)).message).toBe(`snapshot: tensor ${name} is an int8 cache's, but the options' cache is float32`);
    }
    const badInt8 = edited(int8, (tensors) => tensors.set('values', decodeTensor(float, 'values')));
    expect(refusal(() => restoreAttention(badInt8)).message).toBe("snapshot: tensor values is a float cache's, but the options' cache is int8");
  });
});

/** Tensor `name` of the file `bytes`. */
function decodeTensor(bytes: Uint8Array, name: string): TensorInput {
  return decodeSafetensors(bytes).tensors.get(name)!;
}
