import { createAttention, restoreAttention } from '../../src/index.js';
import type { Attention, AttentionOptions, ResolvedOptions } from '../../src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/cache/safetensors.js';
import type { TensorInput } from '../../src/cache/safetensors.js';
import { quantizeColumnsInt8, quantizeRowInt8 } from '../../src/kernels/index.js';

/**
 * A causal engine holding tokens 0 … n−1, with `keys` and `values` as its cache (token-major rows
 * of kvHeads·headDim numbers; only the first n rows are read), as if those tokens had been pushed
 * and their outputs taken. It is built through the public snapshot format: the empty engine's own
 * snapshot supplies the format, version, options and projections, and a snapshot with these keys
 * and values, positions 0 … n−1, length n and emitted n is restored — which validates all of it.
 *
 * Why: pushing is the only other way to fill a cache, and every push attends, so reaching length n
 * costs O(n²) — hours at n = 32,768, H = 32. The benchmark times the step at length n, not the road
 * there. A float64 engine gets the float32 numbers widened; an int8 cache, them quantized as
 * appending quantizes them.
 */
export function restoredEngine(options: AttentionOptions, keys: Float32Array, values: Float32Array, n: number): Attention {
  const empty = createAttention(options);
  // The empty engine's own tensors (its projections, when it has them) go along unchanged.
  const { metadata, tensors } = decodeSafetensors(empty.snapshot());
  const o = empty.options;
  empty.dispose();
  const width = o.kvHeads * o.headDim;
  const shape = [n, o.kvHeads, o.headDim];
  const dtype = o.precision === 'float32' ? 'F32' : 'F64';
  const stored = (rows: Float32Array) => (dtype === 'F32' ? rows.subarray(0, n * width) : Float64Array.from(rows.subarray(0, n * width)));
  const positions = new Int32Array(n);
  for (let t = 0; t < n; t++) positions[t] = t;
  const cache: Record<string, TensorInput> =
    o.cacheDtype === 'int8' ? int8Tensors(o, keys, values, n) : { keys: { dtype, shape, data: stored(keys) }, values: { dtype, shape, data: stored(values) } };
  const bytes = encodeSafetensors(
    { ...Object.fromEntries(tensors), positions: { dtype: 'I32', shape: [n], data: positions }, ...cache },
    { ...metadata, length: String(n), emitted: String(n) },
  );
  return restoreAttention(bytes, options);
}

/**
 * An int8 cache's tensors as appending would leave them (docs/snapshots.md): the full blocks' keys
 * quantized per channel, the last partial block's keys in float32, every value per row.
 */
function int8Tensors(o: ResolvedOptions, keys: Float32Array, values: Float32Array, n: number): Record<string, TensorInput> {
  const { kvHeads, headDim, blockSize } = o;
  const width = kvHeads * headDim;
  const full = Math.floor(n / blockSize);
  const keysInt8 = new Int8Array(full * width * blockSize);
  const keyScales = new Float32Array(full * width);
  const block = new Float32Array(blockSize * headDim);
  for (let b = 0; b < full; b++) {
    for (let g = 0; g < kvHeads; g++) {
      for (let s = 0; s < blockSize; s++) block.set(keys.subarray((b * blockSize + s) * width + g * headDim, (b * blockSize + s) * width + (g + 1) * headDim), s * headDim);
      const at = (b * kvHeads + g) * blockSize * headDim;
      quantizeColumnsInt8(keysInt8.subarray(at, at + blockSize * headDim), keyScales, (b * kvHeads + g) * headDim, block, 0, blockSize, headDim);
    }
  }
  const valuesInt8 = new Int8Array(n * width);
  const valueScales = new Float32Array(n * kvHeads);
  for (let t = 0; t < n; t++) for (let g = 0; g < kvHeads; g++) quantizeRowInt8(valuesInt8, t * width + g * headDim, valueScales, t * kvHeads + g, values, t * width + g * headDim, headDim);
  return {
    key_blocks: { dtype: 'I32', shape: [full], data: Int32Array.from({ length: full }, (_, b) => b) },
    keys_int8: { dtype: 'I8', shape: [full, kvHeads, blockSize, headDim], data: keysInt8 },
    key_scales: { dtype: 'F32', shape: [full, kvHeads, headDim], data: keyScales },
    keys: { dtype: 'F32', shape: [n - full * blockSize, kvHeads, headDim], data: keys.slice(full * blockSize * width, n * width) },
    values_int8: { dtype: 'I8', shape: [n, kvHeads, headDim], data: valuesInt8 },
    value_scales: { dtype: 'F32', shape: [n, kvHeads], data: valueScales },
  };
}
