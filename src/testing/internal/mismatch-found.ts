import type { Mismatch } from '../verification-error.js';

/** Thrown inside a property to fail the case with a structured {@link Mismatch}. */
export class MismatchFound extends Error {
  readonly mismatch: Mismatch;
  /** The calls made up to and including the failing one, when the check keeps them. */
  transcript: readonly string[] | null = null;
  /**
   * How many items of the case (tokens, operations) were used when it failed; the rest never ran
   * and are cut from the reported counterexample. Null: all of them.
   */
  consumed: number | null = null;

  constructor(mismatch: Mismatch) {
    super(mismatch.description);
    this.name = 'MismatchFound';
    this.mismatch = mismatch;
  }
}

/**
 * Thrown where an implementation's call returned a promise: the checks run synchronous code only,
 * and comparing a promise with steps would report a mismatch that is not one.
 */
export class AsyncImplementation extends Error {
  constructor(readonly call: string) {
    super(`${call} returned a promise`);
    this.name = 'AsyncImplementation';
  }
}

/**
 * Runs `action` on behalf of `call`; anything it throws fails the case as kind 'threw', and a
 * promise it returns ends the check ({@link AsyncImplementation}).
 */
export function attempt<T>(call: string, action: () => T): T {
  let result: T;
  try {
    result = action();
  } catch (error) {
    if (error instanceof MismatchFound) throw error;
    throw new MismatchFound({ kind: 'threw', call, description: `${call} threw ${describeError(error)}` });
  }
  if (typeof (result as { then?: unknown } | null)?.then === 'function') throw new AsyncImplementation(call);
  return result;
}

/** `Name CODE: message` (the code when the error has one, as AttentionError does), or the thrown value as text. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
}

/**
 * `push(copy)` for a fresh copy of the kit's `x`, through {@link attempt}: the kit's own tokens stay
 * what its reference and replays read, and an engine that writes into the vector it was given fails
 * as `mutated` (callers reuse their input arrays).
 */
export function pushCopy<T>(call: string, push: (x: number[]) => T, x: readonly number[]): T {
  const copy = Array.from(x);
  const result = attempt(call, () => push(copy));
  const changed = copy.findIndex((value, r) => !Object.is(value, x[r]));
  if (changed >= 0) {
    throw new MismatchFound({
      kind: 'mutated',
      call,
      element: changed,
      expected: Array.from(x),
      actual: copy,
      description: `${call} wrote into the vector it was given (element ${changed} is now ${copy[changed]}): an engine must not change its inputs`,
    });
  }
  return result;
}
