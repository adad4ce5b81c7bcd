import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import { AttentionError, describeValue, shownValue } from '../../errors.js';
import { VerificationError } from '../verification-error.js';
import type { Counterexample, Mismatch } from '../verification-error.js';
import { integerAtLeast, nonNegativeNumber } from './arguments.js';
import { formatError, formatVectors } from './format.js';
import { AsyncImplementation, describeError, MismatchFound } from './mismatch-found.js';
import type { RunParameters } from '../run-parameters.js';

/** The keys of {@link RunParameters}, for the checks' lists of known parameters. */
export const RUN_PARAMETERS = ['numRuns', 'seed', 'path', 'shrinkTimeLimit'] as const;

/** Cases per check unless the caller says otherwise. */
const DEFAULT_RUNS = 100;

/**
 * Runs `verify` (which throws {@link MismatchFound} or anything else to fail a case) over
 * `arbitrary` with fast-check, and turns a failure into a {@link VerificationError} describing the
 * shrunk case with `describeCase` (given the failure, which may carry the calls made), cut by
 * `keepFirst` to the items that ran.
 */
export function runCheck<Case extends Counterexample>(
  check: string,
  claim: string,
  arbitrary: Arbitrary<Case>,
  verify: (c: Case) => void,
  parameters: RunParameters,
  describeCase: (c: Case, failure: MismatchFound | null) => string[],
  keepFirst: (c: Case, consumed: number) => Case,
): void {
  const numRuns = integerAtLeast(parameters.numRuns ?? DEFAULT_RUNS, 1, 'numRuns');
  if (parameters.seed !== undefined && !Number.isInteger(parameters.seed)) {
    throw new AttentionError('INVALID_ARGUMENT', `seed must be an integer (as a VerificationError reports it), got ${describeValue(parameters.seed)}`, { field: 'seed', actual: shownValue(parameters.seed) });
  }
  if (parameters.path !== undefined && typeof parameters.path !== 'string') {
    throw new AttentionError('INVALID_ARGUMENT', `path must be a string (as a VerificationError reports it), got ${describeValue(parameters.path)}`, { field: 'path', actual: shownValue(parameters.path) });
  }
  const shrinkTimeLimit = parameters.shrinkTimeLimit === undefined ? null : nonNegativeNumber(parameters.shrinkTimeLimit, 'shrinkTimeLimit');
  const property = fc.property(arbitrary, verify);
  const found = replayable(() => fc.check(property, {
    numRuns,
    ...(parameters.seed === undefined ? {} : { seed: parameters.seed }),
    ...(parameters.path === undefined ? {} : { path: parameters.path }),
    ...(shrinkTimeLimit === null ? {} : { endOnFailure: true }),
  }));
  if (!found.failed) return;
  if (found.errorInstance instanceof AsyncImplementation) {
    throw new AttentionError(
      'INVALID_ARGUMENT',
      `${check}: ${found.errorInstance.call} returned a promise; the checks run synchronous implementations (push, flush and the cache operations return their results, not promises of them)`,
      { field: 'factory' },
    );
  }
  // Shrunk apart from the search, so that the limit bounds the shrinking alone: the failing case's
  // path replayed, then shrunk from there until it is as small as it gets or the time is up.
  const shrunkFor = shrinkTimeLimit === null ? null : fc.check(property, { seed: found.seed, path: found.counterexamplePath!, interruptAfterTimeLimit: shrinkTimeLimit });
  // Out of time before the replay, it has no case: the one found stands.
  const details = shrunkFor?.failed === true && shrunkFor.counterexample !== null ? shrunkFor : found;
  const cutShort = shrunkFor?.interrupted === true;
  const error = details.errorInstance;
  const failure = error instanceof MismatchFound ? error : null;
  // fast-check shrinks lists from the front, so items after the failing call can survive
  // shrinking; they never ran, and the same case without them fails the same way.
  const shrunk = details.counterexample![0];
  const counterexample = failure?.consumed == null ? shrunk : keepFirst(shrunk, failure.consumed);
  const mismatch: Mismatch = failure?.mismatch ?? { kind: 'threw', call: check, description: `the check itself threw ${describeError(error)}` };
  const path = details.counterexamplePath ?? '';
  const message = [
    `${check}: ${claim}.`,
    `Shrunk counterexample (failed at run ${found.numRuns}, then ${details.numShrinks} shrinks${cutShort ? `, stopped by shrinkTimeLimit (${shrinkTimeLimit} ms): maybe not the smallest` : ''}):`,
    ...describeCase(counterexample, failure).map((line) => `  ${line}`),
    ...formatMismatch(mismatch).map((line) => `  ${line}`),
    `Replay it: ${check}(factory, { ...the same parameters, seed: ${details.seed}, path: '${path}' })`,
  ].join('\n');
  throw new VerificationError(message, { counterexample, mismatch, seed: details.seed, path, numRuns: found.numRuns, numShrinks: details.numShrinks });
}

function formatMismatch(m: Mismatch): string[] {
  const lines = [`${m.call}: ${m.description}.`];
  const [expected, actual] = formatVectors(m.expected ?? [], m.actual ?? []);
  if (m.expected !== undefined) lines.push(`  expected: ${expected}`);
  if (m.actual !== undefined) lines.push(`  actual:   ${actual}`);
  if (m.error !== undefined && m.allowed !== undefined) {
    lines.push(`  max error: ${formatError(m.error)} at element ${m.element} (allowed there: ${formatError(m.allowed)})`);
  }
  return lines;
}

/** `check()`, with a `path` fast-check cannot replay refused as such (it throws a plain Error). */
function replayable<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof Error && error.message.startsWith('Unable to replay'))) throw error;
    throw new AttentionError('INVALID_ARGUMENT', `path is not one this run can replay (${error.message}); pass the path a VerificationError reported, with its seed`, { field: 'path' });
  }
}
