import { expect } from 'vitest';
import { AttentionError } from '../../src/index.js';

/** The AttentionError `run` throws; fails the test when it throws something else or nothing. */
export function refusal(run: () => unknown): AttentionError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(AttentionError);
    return e as AttentionError;
  }
  throw new Error('expected an AttentionError, nothing was thrown');
}
