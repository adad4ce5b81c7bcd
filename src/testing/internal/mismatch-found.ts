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

/** `Name CODE: message` (the code when the error has one, as AttentionError does), or the thrown value as text. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
}
