import { AttentionError } from '../../errors.js';

/** Returns `value` when it is an integer ≥ `min`; otherwise throws INVALID_ARGUMENT naming `field`. */
export function integerAtLeast(value: unknown, min: number, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new AttentionError('INVALID_ARGUMENT', `${field} must be an integer ≥ ${min}, got ${String(value)}`, {
      field,
      expected: `integer ≥ ${min}`,
      actual: String(value),
    });
  }
  return value;
}

/** Returns `value` when it is a finite number > 0; otherwise throws INVALID_ARGUMENT naming `field`. */
export function positiveNumber(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new AttentionError('INVALID_ARGUMENT', `${field} must be a finite number > 0, got ${String(value)}`, {
      field,
      expected: 'finite number > 0',
      actual: String(value),
    });
  }
  return value;
}
