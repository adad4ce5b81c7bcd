import type { FloatArray } from './float-array.js';

/** `out[outOffset : outOffset+n] += alpha · x[xOffset : xOffset+n]`. */
export function axpy(out: FloatArray, outOffset: number, alpha: number, x: FloatArray, xOffset: number, n: number): void {
  for (let i = 0; i < n; i++) out[outOffset + i] = out[outOffset + i]! + alpha * x[xOffset + i]!;
}
