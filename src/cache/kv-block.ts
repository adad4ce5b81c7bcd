import type { FloatArray } from '../kernels/index.js';

/**
 * A page of the cache: `blockSize` token slots. Within a block each kv head's rows are contiguous:
 * the key of slot s for kv head g starts at `(g·blockSize + s)·headDim`, so attending one head reads
 * one run of memory.
 *
 * A float cache fills `keys` and `values`. An int8 cache (the KIVI split) stores values per token,
 * `valuesInt8` with one scale per (head, slot) in `valueScales`, and keeps keys in float `keys`
 * while the block fills; once full they are quantized per channel into `keysInt8` with one scale
 * per (head, channel) in `keyScales`, and `keys` is dropped.
 */
export interface KVBlock {
  keys: FloatArray | null;
  values: FloatArray | null;
  keysInt8: Int8Array | null;
  keyScales: Float32Array | null;
  valuesInt8: Int8Array | null;
  valueScales: Float32Array | null;
  /**
   * The per-(head, channel) scales an int8 block's keys were quantized on, kept while they are float
   * again (written after a truncate into the block) so that quantizing them anew rounds the kept
   * keys back to the same integers (see quantizeColumnsInt8); null otherwise.
   */
  keyFloor: Float32Array | null;
  /** Query rows `[s·queryWidth …]`, kept only when outputs wait for look-ahead tokens. */
  readonly queries: FloatArray | null;
  /** How many caches (forks) hold this block. A block with refs > 1 is copied before a write. */
  refs: number;
  /**
   * Byte offsets of `keys` and `values` in the WebAssembly arena's memory, where the SIMD kernels
   * read them in place; -1 when they are plain arrays.
   */
  readonly keysByteOffset: number;
  readonly valuesByteOffset: number;
  /**
   * Byte offsets in the arena of the int8 keys' per-channel scales (`keysByteOffset` then points at
   * the int8 keys) and of the int8 values' per-token scales; 0 while the rows are float.
   */
  readonly keyScalesByteOffset: number;
  readonly valueScalesByteOffset: number;
}
