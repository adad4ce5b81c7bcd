import { AttentionError } from '../errors.js';

/**
 * Which call of an engine is reading its caller's inputs. Reading runs the caller's code when an
 * input has a getter or is a Proxy; a call into the same engine from there, half-way through the
 * outer call, would write the scratch that call is reading into or dispose the engine under it, so
 * it is refused.
 */
export class InputReading {
  private operation: string | null = null;

  /** `holder`: what reads, as a message names it ("engine", "linear layer"). */
  constructor(private readonly holder: string) {}

  /** `read()` with `readers` refusing every call meanwhile ({@link InputReading.assertIdle}). */
  static during<T>(readers: readonly InputReading[], operation: string, read: () => T): T {
    for (const reader of readers) reader.operation = operation;
    try {
      return read();
    } finally {
      for (const reader of readers) reader.operation = null;
    }
  }

  /** @throws AttentionError INVALID_ARGUMENT naming `operation` while a call reads its inputs. */
  assertIdle(operation: string): void {
    if (this.operation === null) return;
    throw new AttentionError(
      'INVALID_ARGUMENT',
      `${operation}: called while this ${this.holder} reads the inputs of its ${this.operation} (from a getter or Proxy in them); an input must not call into the engine reading it`,
      { field: operation },
    );
  }
}
