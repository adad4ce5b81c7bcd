import { AttentionError, describeValue, shownValue } from '../errors.js';
import { BF16_MAX, F16_MAX, roundToBfloat16, roundToFloat16 } from '../kernels/index.js';
import { ThreadPool } from '../kernels/wasm/thread-pool.js';
import type { FloatArray, FloatArrayConstructor } from '../kernels/index.js';
import { copyClaimed, vectorLength } from './vector.js';
import type { Vector } from './vector.js';

/** The `kernels` option (of an engine or a linear layer), checked: 'auto', the default, or 'js'. */
export function kernelChoiceOf(value: unknown): 'auto' | 'js' {
  const choice = value ?? 'auto';
  if (choice !== 'auto' && choice !== 'js') invalid('kernels', `must be 'auto' or 'js', got ${describeValue(choice)}`);
  return choice;
}

/**
 * The `threads` option, checked: a ThreadPool, which runs only the WebAssembly kernels (`wasm`:
 * whether the caller will run them; `needs`: what they take, for the refusal), or null for none.
 */
export function threadPoolOf(value: unknown, wasm: boolean, needs: string): ThreadPool | null {
  const threads = value ?? null;
  if (threads === null) return null;
  if (!ThreadPool.is(threads)) invalid('threads', 'must be a ThreadPool from createThreadPool (attnstream/threads)');
  if (!wasm) invalid('threads', `needs the WebAssembly kernels: ${needs}`);
  return threads;
}

/**
 * A list option (ropeFrequencies, sinkLogits, longRope's factors), checked: `count` finite numbers
 * that `accept` takes, copied. A wrong count is DIMENSION_MISMATCH, as for every vector; anything
 * else INVALID_OPTION naming `field` and the element.
 */
export function readNumbers(given: Vector, count: number, field: string, counted: string, accept: (value: number) => boolean, rule: string): Float64Array {
  const length = vectorLength(given);
  if (length === undefined) invalid(field, `must be an array of ${count} numbers (${counted})`);
  if (length !== count) {
    throw new AttentionError('DIMENSION_MISMATCH', `${field}: expected ${count} numbers (${counted}), got ${length}`, { field, expected: count, actual: length });
  }
  const out = new Float64Array(count);
  for (let m = 0; m < count; m++) {
    const value = given[m];
    if (typeof value !== 'number' || !Number.isFinite(value) || !accept(value)) invalid(field, `element ${m} must be ${rule}, got ${describeValue(value)}`);
    out[m] = value;
  }
  return out;
}

/** A 16-bit format weights may be stored in. */
export type HalfDtype = 'bfloat16' | 'float16';

/** Each format's rounding (in place; the index of the first number it would overflow, or -1) and its largest finite number. */
const HALVES: Readonly<Record<HalfDtype, { readonly round: (a: Float32Array) => number; readonly max: number }>> = {
  bfloat16: { round: roundToBfloat16, max: BF16_MAX },
  float16: { round: roundToFloat16, max: F16_MAX },
};

/**
 * A weight matrix, row-major `rows × cols`; a bias is one row (`rows` 1), named by element alone.
 * With `half` (a Float32Array then) each number is rounded to that format ({@link roundToBfloat16},
 * {@link roundToFloat16}).
 * @throws AttentionError DIMENSION_MISMATCH for a wrong length; NON_FINITE for a number that is not
 *   finite, beyond float32's range, or (with `half`) that rounds past that format's.
 */
export function matrix(w: Vector | undefined, rows: number, cols: number, field: string, Float: FloatArrayConstructor, half?: HalfDtype): FloatArray {
  const where = (i: number) => (rows === 1 ? '' : ` (row ${Math.floor(i / cols)}, column ${i % cols})`);
  const shape = rows === 1 ? `${cols} number${cols === 1 ? '' : 's'}` : `${rows}×${cols} = ${rows * cols} numbers (row-major)`;
  const length = vectorLength(w);
  if (length === undefined) invalid(field, `must be an array of ${shape}`);
  if (length !== rows * cols) {
    throw new AttentionError('DIMENSION_MISMATCH', `${field}: expected ${shape}, got ${length}`, {
      field,
      expected: rows * cols,
      actual: length,
    });
  }
  const m = copyClaimed(w!, rows * cols, Float, (value, i) => {
    const beyond = typeof value === 'number' && Number.isFinite(value) ? ", beyond float32's range" : '';
    throw new AttentionError('NON_FINITE', `${field}: element ${i}${where(i)} is ${describeValue(value)}${beyond}`, {
      field,
      element: i,
      actual: shownValue(value),
    });
  });
  const overflow = half === undefined ? -1 : HALVES[half].round(m as Float32Array);
  if (overflow >= 0) {
    throw new AttentionError('NON_FINITE', `${field}: element ${overflow}${where(overflow)} is ${m[overflow]}, which rounds to ±Infinity in ${half} (weightsDtype '${half}' holds magnitudes up to ${HALVES[half!].max})`, {
      field,
      element: overflow,
      actual: String(m[overflow]),
    });
  }
  return m;
}

/** `value` when it is an integer from 1 to `max`; INVALID_OPTION naming `field` otherwise. */
export function positiveInteger(value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) invalid(field, `must be a positive integer, got ${describeValue(value)}`);
  if (value > max) invalid(field, `must be at most ${max}, got ${value}`);
  return value;
}

/** `value` as RoPE's base when it is a finite number > 1; INVALID_OPTION naming `ropeBase` otherwise. */
export function ropeBaseOf(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 1) invalid('ropeBase', `must be a finite number > 1, got ${describeValue(value)}`);
  return value;
}

/** `value` when it is a finite number > 0; INVALID_OPTION naming `field` otherwise. */
export function positiveNumber(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) invalid(field, `must be a finite positive number, got ${describeValue(value)}`);
  return value;
}

export function nonNegativeInteger(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) invalid(field, `must be a non-negative integer, got ${describeValue(value)}`);
  return value;
}

/** Throws INVALID_OPTION: `option <field> <rule>`, with `details.field`. */
export function invalid(field: string, rule: string): never {
  throw new AttentionError('INVALID_OPTION', `option ${field} ${rule}`, { field });
}
