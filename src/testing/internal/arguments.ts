import { AttentionError, describeValue, shownValue } from '../../errors.js';

/**
 * Returns `value` when it is an integer ≥ `min` (and ≤ `max`, a bound past which drawing would hang,
 * exhaust memory or draw options the core refuses); otherwise throws INVALID_ARGUMENT naming `field`.
 */
export function integerAtLeast(value: unknown, min: number, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new AttentionError('INVALID_ARGUMENT', `${field} must be an integer ${range}, got ${describeValue(value)}`, {
      field,
      expected: `integer ${range}`,
      actual: shownValue(value),
    });
  }
  return value;
}

/** Returns `value` when it is a finite number > 0; otherwise throws INVALID_ARGUMENT naming `field`. */
export function positiveNumber(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new AttentionError('INVALID_ARGUMENT', `${field} must be a finite number > 0, got ${describeValue(value)}`, {
      field,
      expected: 'finite number > 0',
      actual: shownValue(value),
    });
  }
  return value;
}

/** Returns `value` when it is a finite number ≥ 0; otherwise throws INVALID_ARGUMENT naming `field`. */
export function nonNegativeNumber(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new AttentionError('INVALID_ARGUMENT', `${field} must be a finite number ≥ 0, got ${describeValue(value)}`, {
      field,
      expected: 'finite number ≥ 0',
      actual: describeValue(value),
    });
  }
  return value;
}

/**
 * Returns `parameters` when it is an object whose every key is one of `known`; otherwise throws
 * INVALID_ARGUMENT naming the first unknown key and listing the known ones, as createAttention
 * does for options: a misspelt parameter would otherwise be ignored without a word.
 */
export function knownParameters<T extends object>(parameters: T, known: readonly string[], check: string): T {
  if (parameters === null || typeof parameters !== 'object') {
    throw new AttentionError('INVALID_ARGUMENT', `${check}: parameters must be an object, got ${describeValue(parameters)}`, { field: 'parameters', actual: describeValue(parameters) });
  }
  const unknown = Object.keys(parameters).find((key) => !known.includes(key));
  if (unknown !== undefined) {
    throw new AttentionError('INVALID_ARGUMENT', `${check}: ${unknown} is not a parameter (known: ${known.join(', ')})`, { field: unknown, expected: known.join(', ') });
  }
  return parameters;
}

/** Returns `value` when it is one of `allowed`; otherwise throws INVALID_ARGUMENT naming `field`. */
export function oneOf<T>(value: T, allowed: readonly T[], field: string): T {
  if (allowed.includes(value)) return value;
  throw new AttentionError('INVALID_ARGUMENT', `${field} must be one of ${allowed.map((a) => describeValue(a)).join(', ')}, got ${describeValue(value)}`, {
    field,
    expected: allowed.map(String).join(' | '),
    actual: describeValue(value),
  });
}

/** {@link oneOf}, or absent (undefined). */
export function oneOfOrAbsent<T>(value: T | undefined, allowed: readonly T[], field: string): T | undefined {
  return value === undefined ? undefined : oneOf(value, allowed, field);
}

/** Returns `value` when it is a function; otherwise throws INVALID_ARGUMENT naming `field`. */
export function functionOf<T>(value: T, field: string): T {
  if (typeof value === 'function') return value;
  throw new AttentionError('INVALID_ARGUMENT', `${field} must be a function, got ${describeValue(value)}`, { field, expected: 'function', actual: describeValue(value) });
}

/** Returns `value` when it is an object (not null, not an array); otherwise throws INVALID_ARGUMENT naming `field`. */
export function objectOf<T>(value: T, field: string): T {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value;
  throw new AttentionError('INVALID_ARGUMENT', `${field} must be an object, got ${describeValue(value)}`, { field, expected: 'object', actual: describeValue(value) });
}

/** Returns `value` when it is an array; otherwise throws INVALID_ARGUMENT naming `field`. */
export function arrayOf<T>(value: readonly T[], field: string): readonly T[] {
  if (Array.isArray(value)) return value;
  throw new AttentionError('INVALID_ARGUMENT', `${field} must be an array, got ${describeValue(value)}`, { field, expected: 'array', actual: describeValue(value) });
}

/** `value` when it is a fast-check Arbitrary (or undefined); otherwise throws INVALID_ARGUMENT naming `field`. */
export function arbitraryOrAbsent<T>(value: T, field: string): T {
  if (value === undefined || (value !== null && typeof (value as { generate?: unknown }).generate === 'function')) return value;
  throw new AttentionError('INVALID_ARGUMENT', `${field} must be a fast-check Arbitrary (attentionOptionsArbitrary(…), say), got ${describeValue(value)}`, { field });
}
