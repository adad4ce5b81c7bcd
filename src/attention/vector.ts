import { AttentionError } from '../errors.js';
import type { FloatArray } from '../kernels/index.js';

/**
 * Any list of numbers: `number[]`, `Float32Array`, `Float64Array`. Inputs are copied, so the
 * caller may reuse the array afterwards.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { Vector } from 'attnstream';
 * const attn = createAttention({ dim: 2 });
 * const tokens: Vector[] = [[1, 0], new Float32Array([0, 1]), new Float64Array([1, 1])];
 * console.log(attn.pushMany(tokens).length); // 3
 * ```
 */
export type Vector = ArrayLike<number>;

/**
 * Copies `x` into `out[outOffset …]` after checking its length and that every entry is finite.
 * Throws before writing anything, so a refused vector leaves `out` as it was.
 */
export function readVector(
  x: Vector,
  expected: number,
  out: FloatArray,
  outOffset: number,
  field: string,
  token?: number,
): void {
  const where = token === undefined ? '' : ` at token ${token}`;
  if (x === null || typeof x !== 'object' || typeof x.length !== 'number') {
    throw new AttentionError('INVALID_ARGUMENT', `${field}${where}: expected an array of ${expected} numbers, got ${describe(x)}`, {
      field,
      ...(token === undefined ? {} : { token }),
      expected,
    });
  }
  if (x.length !== expected) {
    throw new AttentionError('DIMENSION_MISMATCH', `${field}${where}: expected length ${expected}, got ${x.length}`, {
      field,
      ...(token === undefined ? {} : { token }),
      expected,
      actual: x.length,
    });
  }
  for (let i = 0; i < expected; i++) {
    const value = x[i];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new AttentionError('NON_FINITE', `${field}${where}: element ${i} is ${String(value)}, expected a finite number`, {
        field,
        ...(token === undefined ? {} : { token }),
        element: i,
        actual: String(value),
      });
    }
  }
  for (let i = 0; i < expected; i++) out[outOffset + i] = x[i]!;
}

/** Throws NON_FINITE naming `field` when `a[0 : n]` holds a non-finite number (an overflow). */
export function assertFinite(a: FloatArray, n: number, field: string, token: number): void {
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(a[i]!)) {
      throw new AttentionError(
        'NON_FINITE',
        `${field} at token ${token}: element ${i} overflowed to ${a[i]}; the input or the weights are too large`,
        { field, token, element: i, actual: String(a[i]) },
      );
    }
  }
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x;
}
