import type { FloatArray } from '../kernels/index.js';

/**
 * Columns per chunk of a block's float values. Within a block, a kv head's values are not stored
 * row after row (as its keys are) but in chunks of columns: columns `[c0, c0 + width)` of every
 * slot together, slot after slot, where the chunks are 16 columns wide but the last (headDim mod 16
 * columns, when there are any). Value (s, c) of a kv head whose region starts at `region` is at
 * `region + c0·blockSize + s·width + (c − c0)`.
 *
 * Why: the weighted sum Σ_r w_r·v_r runs over a run of rows a chunk of columns at a time, the
 * chunk's sums in f32x4 accumulators, so with row-major values each pass read a piece of every
 * row, a row apart; in chunks it reads one contiguous stretch instead (the `mix` kernel ran ~24 %
 * faster on values in L3 than on rows). 16 columns, in four accumulators two rows a pass, rather
 * than 32 in eight: V8 kept one of eight in memory, a store and reload every row, and 16 ran 1.5×
 * faster from L2 and L3, with the same sums in the same order.
 */
export const VALUE_CHUNK = 16;

/** Where slot `slot`'s numbers of the chunk of columns from `c0` (`width` wide) start, in the kv head's values at `region`. */
export function valueChunkAt(region: number, blockSize: number, slot: number, c0: number, width: number): number {
  return region + c0 * blockSize + slot * width;
}

/** Stores the row `src[from … from + headDim)` as slot `slot` of the kv head's values at `region`. */
export function writeValueRow(values: FloatArray, region: number, blockSize: number, headDim: number, slot: number, src: FloatArray, from: number): void {
  // Element by element: a subarray view per chunk would be an allocation per chunk of every append.
  for (let c0 = 0; c0 < headDim; c0 += VALUE_CHUNK) {
    const width = Math.min(VALUE_CHUNK, headDim - c0);
    const at = valueChunkAt(region, blockSize, slot, c0, width);
    for (let c = 0; c < width; c++) values[at + c] = src[from + c0 + c]!;
  }
}

/** Copies slot `slot` of the kv head's values at `region` into `dst[to … to + headDim)`. */
export function readValueRow(values: FloatArray, region: number, blockSize: number, headDim: number, slot: number, dst: FloatArray, to: number): void {
  for (let c0 = 0; c0 < headDim; c0 += VALUE_CHUNK) {
    const width = Math.min(VALUE_CHUNK, headDim - c0);
    const at = valueChunkAt(region, blockSize, slot, c0, width);
    dst.set(values.subarray(at, at + width), to + c0);
  }
}
