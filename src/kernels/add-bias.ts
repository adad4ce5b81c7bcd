import type { FloatArray } from './float-array.js';

/** `out[t·w + c] += bias[c]` for each of `out`'s first `rows` rows, `w = bias.length` wide; a row per token. */
export function addBias(out: FloatArray, bias: FloatArray, rows: number): void {
  const width = bias.length;
  for (let t = 0; t < rows; t++) {
    const row = t * width;
    for (let c = 0; c < width; c++) out[row + c] = out[row + c]! + bias[c]!;
  }
}
