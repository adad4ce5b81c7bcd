/**
 * Stable error codes. Each names one kind of refusal; docs/errors.md says when each is thrown and
 * what the caller should do.
 */
export type AttentionErrorCode =
  | 'INVALID_OPTION'
  | 'INVALID_ARGUMENT'
  | 'DIMENSION_MISMATCH'
  | 'NON_FINITE'
  | 'OUT_OF_RANGE'
  | 'EVICTED'
  | 'DISPOSED'
  | 'UNKNOWN_TOKEN'
  | 'LAYER_MISMATCH'
  | 'CORRUPT_SNAPSHOT'
  | 'UNSUPPORTED_SNAPSHOT';

/** Where a refused value was found, for callers that react programmatically. */
export interface AttentionErrorDetails {
  /** The option, argument or tensor that was wrong, e.g. `"x"`, `"weights.wq"`. */
  readonly field?: string;
  /** Token index (0-based stream position) the input belonged to. */
  readonly token?: number;
  /** Element index inside the vector or matrix. */
  readonly element?: number;
  readonly expected?: number | string;
  readonly actual?: number | string;
}

/**
 * The one error type attnstream throws for bad input or a refused operation. Nothing in an engine
 * changes when it is thrown.
 *
 * @example
 * ```ts
 * import { createAttention, AttentionError } from 'attnstream';
 * const attn = createAttention({ dim: 4 });
 * try {
 *   attn.push([1, 2, 3]);
 * } catch (e) {
 *   if (e instanceof AttentionError && e.code === 'DIMENSION_MISMATCH') console.log(e.message);
 * }
 * ```
 */
export class AttentionError extends Error {
  readonly code: AttentionErrorCode;
  readonly details: AttentionErrorDetails;

  constructor(code: AttentionErrorCode, message: string, details: AttentionErrorDetails = {}) {
    super(message);
    this.name = 'AttentionError';
    this.code = code;
    this.details = details;
  }
}
