import type { CheckCacheLawsParameters } from './check-cache-laws.js';
import type { CheckIncrementalParameters } from './check-incremental.js';

/**
 * The run parameters both checks share ({@link CheckIncrementalParameters} and
 * {@link CheckCacheLawsParameters} take them beside their own).
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import { checkIncremental } from 'attnstream/testing';
 * import type { RunParameters } from 'attnstream/testing';
 * const run: RunParameters = { numRuns: 20, shrinkTimeLimit: 10_000 };
 * checkIncremental(createAttention, run);
 * ```
 */
export interface RunParameters {
  /** Cases to run. Default 100. */
  readonly numRuns?: number | undefined;
  /** Seed of the run, to replay one; the error message says it. Default: random. */
  readonly seed?: number | undefined;
  /** With `seed`: the shrink path of one failing case, to replay exactly it. */
  readonly path?: string | undefined;
  /**
   * Milliseconds to spend shrinking a failure, at most (a finite number ≥ 0); the failure is then
   * reported as far as it shrank, and the message says it stopped. Default: shrink until no
   * smaller case fails (minutes, for a bug that shows only past a long sequence).
   */
  readonly shrinkTimeLimit?: number | undefined;
}
