import { createAttention, restoreAttention } from '../../src/index.js';
import type { Attention, AttentionOptions } from '../../src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/cache/safetensors.js';

/**
 * A causal engine holding tokens 0 … n−1, with `keys` and `values` as its cache (token-major rows
 * of kvHeads·headDim numbers; only the first n rows are read), as if those tokens had been pushed
 * and their outputs taken. It is built through the public snapshot format: the empty engine's own
 * snapshot supplies the format, version, options and projections, and a snapshot with these keys
 * and values, positions 0 … n−1, length n and emitted n is restored — which validates all of it.
 *
 * Why: pushing is the only other way to fill a cache, and every push attends, so reaching length n
 * costs O(n²) — hours at n = 32,768, H = 32. The benchmark times the step at length n, not the road
 * there. A float64 engine gets the float32 numbers widened.
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
  const bytes = encodeSafetensors(
    {
      ...Object.fromEntries(tensors),
      positions: { dtype: 'I32', shape: [n], data: positions },
      keys: { dtype, shape, data: stored(keys) },
      values: { dtype, shape, data: stored(values) },
    },
    { ...metadata, length: String(n), emitted: String(n) },
  );
  return restoreAttention(bytes, options);
}
