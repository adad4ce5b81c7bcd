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
 * Copies `x` into `out[outOffset …]` after checking that it is an array of `expected` numbers,
 * then checks that every entry *as stored* is finite: a finite number beyond float32's range
 * (±3.4e38) stored into a Float32Array is refused as well, rather than cached as Infinity. On a
 * refusal `out` may hold part of `x`: callers pass scratch rows, never state.
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
  if (x instanceof Float32Array || x instanceof Float64Array) {
    // A typed array holds numbers only: copy it in one go, then check what was stored.
    out.set(x, outOffset);
  } else {
    for (let i = 0; i < expected; i++) {
      const value = x[i];
      // Checked before storing: a typed array would turn null into 0 and true into 1.
      if (typeof value !== 'number') nonFinite(field, where, token, i, value, 'expected a finite number');
      out[outOffset + i] = value;
    }
  }
  if (allFinite(out, outOffset, expected)) return;
  for (let i = 0; i < expected; i++) {
    if (!Number.isFinite(out[outOffset + i]!)) {
      const value = x[i]!;
      nonFinite(field, where, token, i, value, Number.isFinite(value) ? "beyond float32's range (±3.4e38) of precision 'float32'" : 'expected a finite number');
    }
  }
}

/**
 * Whether `a[offset : offset + n]` is all finite: v − v is 0 for a finite v and NaN for ±Infinity
 * and NaN, so four running sums of it stay 0 exactly when every entry is finite. A branch-free
 * loop, several times faster than testing entry by entry on every push.
 */
function allFinite(a: FloatArray, offset: number, n: number): boolean {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = offset;
  const end = offset + n;
  for (; i + 3 < end; i += 4) {
    s0 += a[i]! - a[i]!;
    s1 += a[i + 1]! - a[i + 1]!;
    s2 += a[i + 2]! - a[i + 2]!;
    s3 += a[i + 3]! - a[i + 3]!;
  }
  for (; i < end; i++) s0 += a[i]! - a[i]!;
  return s0 + s1 + (s2 + s3) === 0;
}

function nonFinite(field: string, where: string, token: number | undefined, element: number, value: unknown, rule: string): never {
  throw new AttentionError('NON_FINITE', `${field}${where}: element ${element} is ${String(value)}, ${rule}`, {
    field,
    ...(token === undefined ? {} : { token }),
    element,
    actual: String(value),
  });
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
