/**
 * Stable error codes. Each names one kind of refusal; docs/errors.md says when each is thrown and
 * what the caller should do.
 *
 * @example
 * ```ts
 * import { AttentionError, createAttention } from 'attnstream';
 * import type { AttentionErrorCode } from 'attnstream';
 * function codeOf(action: () => unknown): AttentionErrorCode | null {
 *   try {
 *     action();
 *     return null;
 *   } catch (e) {
 *     if (e instanceof AttentionError) return e.code;
 *     throw e;
 *   }
 * }
 * const attn = createAttention({ dim: 2 });
 * console.log(codeOf(() => attn.push([1, NaN]))); // 'NON_FINITE'
 * console.log(codeOf(() => attn.truncate(5))); // 'OUT_OF_RANGE': the engine holds 0 tokens
 * console.log(codeOf(() => createAttention({ dim: 0 }))); // 'INVALID_OPTION'
 * ```
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

/**
 * Where a refused value was found, for callers that react programmatically. Each field is there
 * only when it applies.
 *
 * @example
 * ```ts
 * import { AttentionError, createAttention } from 'attnstream';
 * const attn = createAttention({ dim: 4 });
 * attn.push([1, 2, 3, 4]);
 * try {
 *   attn.push([1, 2, 3]);
 * } catch (e) {
 *   if (e instanceof AttentionError) console.log(e.details); // { field: 'x', token: 1, expected: 4, actual: 3 }
 * }
 * ```
 */
export interface AttentionErrorDetails {
  /** The option, argument or tensor that was wrong, e.g. `"x"`, `"weights.wq"`. */
  readonly field?: string;
  /** Token index (0-based stream position) the input belonged to. */
  readonly token?: number;
  /** In `pushEach` and `pushEachQKV`: the index in `engines` of the engine whose input or score it was. */
  readonly engine?: number;
  /** In a stack: the index of the layer whose options or weights were refused (`createAttentionStack`), or that refused a truncate. */
  readonly layer?: number;
  /** Element index inside the vector or matrix. */
  readonly element?: number;
  /** What was required: a length or count, or a range of integers written `"0..5"`. */
  readonly expected?: number | string;
  /**
   * What was given: a length or a number, or the refused value as a string (`"NaN"`, `"Infinity"`,
   * a word the vocabulary lacks).
   */
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
  /** The kind of refusal. Stable across versions: branch on it, not on the message. */
  readonly code: AttentionErrorCode;
  /** The field, token and element at fault, and what was expected and given, when they apply. */
  readonly details: AttentionErrorDetails;

  constructor(code: AttentionErrorCode, message: string, details: AttentionErrorDetails = {}) {
    super(message);
    this.name = 'AttentionError';
    this.code = code;
    this.details = details;
  }
}

/**
 * `error` with the place it happened in a call that runs others' after its message (` (layer 2)`)
 * and in its details: a stack's layers, a pushEach's engines.
 */
export function placedError(error: AttentionError, where: string, details: AttentionErrorDetails): AttentionError {
  return new AttentionError(error.code, `${error.message} (${where})`, { ...error.details, ...details });
}

/** Characters of a refused value a message quotes at most: a wrong argument can be a model's vocabulary. */
const QUOTED = 60;

/**
 * `text` in double quotes as JSON writes it, cut after 60 characters (`"abc…" (of 1048576
 * characters)`): a name or word from a file or a caller goes into a message, and a log, at a size
 * a message can hold.
 *
 * @example
 * ```ts
 * quoted('keys'); // '"keys"'
 * ```
 */
export function quoted(text: string): string {
  return `${JSON.stringify(cutText(text))}${text.length > QUOTED ? ` (of ${text.length} characters)` : ''}`;
}

/** `text`, or its first 60 characters and `…`: a caller's text as a message or a `field` holds it. */
export function cutText(text: string): string {
  return text.length > QUOTED ? `${text.slice(0, QUOTED)}…` : text;
}

/** A metadata value as a message shows it: {@link quoted}, or `undefined` when it is absent. */
export function shownText(value: string | undefined): string {
  return value === undefined ? 'undefined' : quoted(value);
}

/** %TypedArray%.prototype, the prototype every typed array's prototype has. */
export const TYPED_ARRAY_PROTOTYPE = Object.getPrototypeOf(Uint8Array.prototype) as object;

/**
 * Whether `value` passes for a typed array without being one: a Proxy of one, or an object made
 * from its prototype. It has no numbers of its own, so the built-in `length` getter throws a
 * TypeError for it.
 */
export function isTypedArrayWrapper(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !ArrayBuffer.isView(value) && TYPED_ARRAY_PROTOTYPE.isPrototypeOf(value);
}

/**
 * A refused value as `details.actual` and a message show it: a number, string (cut), bigint,
 * boolean, symbol, null or undefined as written; anything else described ({@link describeValue}),
 * never by its own `toString`, which may throw (a typed array's wrapper, an array too long to
 * join) or run the caller's code in the middle of a call.
 */
export function shownValue(value: unknown): string {
  if (typeof value === 'string') return cutText(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return String(value);
  return describeValue(value);
}

/**
 * A refused value as a message shows it, in a few words however large: a number as itself, a
 * string quoted (`"2" (a string)`), an array or typed array by its kind and length
 * (`a Float32Array of 384 numbers`; a short array's numbers too), anything else by its kind.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `${JSON.stringify(cutText(value))} (a string${value.length > QUOTED ? ` of ${value.length} characters` : ''})`;
  if (typeof value === 'bigint') return `${value}n (a bigint)`;
  if (typeof value === 'boolean' || typeof value === 'symbol') return `${String(value)} (a ${typeof value})`;
  if (value === null || value === undefined) return String(value);
  if (ArrayBuffer.isView(value)) {
    const length = (value as { length?: unknown }).length;
    return `${article(value.constructor.name)}${typeof length === 'number' ? ` of ${length} numbers` : ''}`;
  }
  if (isTypedArrayWrapper(value)) return `${article((value as object).constructor?.name ?? 'TypedArray')} wrapper (a Proxy, or an object made from its prototype), not the array itself`;
  if (Array.isArray(value)) {
    const text = value.length <= 8 ? shortList(value) : null;
    return text !== null ? `${text} (an array)` : `an array of ${value.length} ${value.length === 1 ? 'item' : 'items'}`;
  }
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name === undefined || name === '' || name === 'Object' ? 'an object' : article(name);
  }
  return `a ${typeof value}`;
}

/** A list of numbers, strings and such as written (`[NaN, "a"]`), when short; else null. */
function shortList(list: readonly unknown[]): string | null {
  if (!list.every((v) => v === null || (typeof v !== 'object' && typeof v !== 'function'))) return null;
  const text = `[${list.map((v) => (typeof v === 'string' ? JSON.stringify(v) : typeof v === 'bigint' ? `${v}n` : String(v))).join(', ')}]`;
  return text.length <= QUOTED ? text : null;
}

/** "a Float32Array", "an Int8Array". */
function article(name: string): string {
  return `${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name}`;
}
