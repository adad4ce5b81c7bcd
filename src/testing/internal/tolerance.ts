import type { AttentionOptions } from '../../attention/index.js';

/**
 * The tolerance beyond score rounding when the caller gives none: 1e-9 for float64 (room for
 * another summation order, far below any bug), 1e-5 for float32 (the default precision).
 */
export function defaultTolerance(options: AttentionOptions): number {
  return options.precision === 'float64' ? 1e-9 : 1e-5;
}
