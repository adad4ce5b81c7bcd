import { VerificationError } from '../../src/testing/index.js';

/** The VerificationError `check` throws; fails the test if it passes or throws something else. */
export function verificationFailure(check: () => void): VerificationError {
  try {
    check();
  } catch (error) {
    if (error instanceof VerificationError) return error;
    throw error;
  }
  throw new Error('expected the check to find a counterexample, but every case passed');
}
