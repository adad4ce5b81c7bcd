import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import { AttentionError, describeValue, shownValue } from '../../errors.js';
import { VerificationError } from '../verification-error.js';
import type { Counterexample, Mismatch } from '../verification-error.js';
import { integerAtLeast, nonNegativeNumber } from './arguments.js';
import { formatError, formatVectors } from './format.js';
import { AsyncImplementation, awaitCalls, runCalls } from './implementation-calls.js';
import type { Verification } from './implementation-calls.js';
import { describeError, MismatchFound } from './mismatch-found.js';
import type { RunParameters } from '../run-parameters.js';

/** The keys of {@link RunParameters}, for the checks' lists of known parameters. */
export const RUN_PARAMETERS = ['numRuns', 'seed', 'path', 'shrinkTimeLimit'] as const;

/** Cases per check unless the caller says otherwise. */
const DEFAULT_RUNS = 100;

/** How a check runs, read from its {@link RunParameters}. */
interface RunSettings<Case> {
  readonly search: fc.Parameters<[Case]>;
  readonly shrinkTimeLimit: number | null;
}

/** Everything a check needs to describe a failure in its own terms. */
export interface CheckDescription<Case> {
  /** The check's name, as the caller calls it. */
  readonly check: string;
  /** What a failure means, for the message's first line. */
  readonly claim: string;
  /** The shrunk case's lines (given the failure, which may carry the calls made). */
  readonly describeCase: (c: Case, failure: MismatchFound | null) => string[];
  /** The case cut to the items that ran (`consumed`, as the failure reports). */
  readonly keepFirst: (c: Case, consumed: number) => Case;
}

/**
 * Runs `verify` (whose calls into the implementation are made as they return; it throws
 * {@link MismatchFound} or anything else to fail a case) over `arbitrary` with fast-check, and
 * turns a failure into a {@link VerificationError} describing the shrunk case.
 */
export function runCheck<Case extends Counterexample>(arbitrary: Arbitrary<Case>, verify: (c: Case) => Verification, parameters: RunParameters, description: CheckDescription<Case>): void {
  const settings = runSettings<Case>(parameters);
  const property = fc.property(arbitrary, (c) => runCalls(verify(c)));
  const found = replayable(() => fc.check(property, settings.search));
  if (!found.failed) return;
  // Shrunk apart from the search, so that the limit bounds the shrinking alone: the failing case's
  // path replayed, then shrunk from there until it is as small as it gets or the time is up.
  const shrunkFor = settings.shrinkTimeLimit === null ? null : fc.check(property, shrinkFrom(found, settings.shrinkTimeLimit));
  const first = nearAllowance(reported(found, shrunkFor)) ? fc.check(property, firstFailing(found)).errorInstance : null;
  throw failure(found, shrunkFor, first, settings, description);
}

/** {@link runCheck} awaiting every call into the implementation: fast-check's asynchronous property. */
export async function runCheckAsync<Case extends Counterexample>(
  arbitrary: Arbitrary<Case>,
  verify: (c: Case) => Verification,
  parameters: RunParameters,
  description: CheckDescription<Case>,
): Promise<void> {
  const settings = runSettings<Case>(parameters);
  const property = fc.asyncProperty(arbitrary, (c) => awaitCalls(verify(c)));
  let found: fc.RunDetails<[Case]>;
  try {
    found = await fc.check(property, settings.search);
  } catch (error) {
    throw unreplayable(error);
  }
  if (!found.failed) return;
  const shrunkFor = settings.shrinkTimeLimit === null ? null : await fc.check(property, shrinkFrom(found, settings.shrinkTimeLimit));
  const first = nearAllowance(reported(found, shrunkFor)) ? (await fc.check(property, firstFailing(found))).errorInstance : null;
  throw failure(found, shrunkFor, first, settings, description);
}

function runSettings<Case>(parameters: RunParameters): RunSettings<Case> {
  const numRuns = integerAtLeast(parameters.numRuns ?? DEFAULT_RUNS, 1, 'numRuns');
  if (parameters.seed !== undefined && !Number.isInteger(parameters.seed)) {
    throw new AttentionError('INVALID_ARGUMENT', `seed must be an integer (as a VerificationError reports it), got ${describeValue(parameters.seed)}`, { field: 'seed', actual: shownValue(parameters.seed) });
  }
  if (parameters.path !== undefined && typeof parameters.path !== 'string') {
    throw new AttentionError('INVALID_ARGUMENT', `path must be a string (as a VerificationError reports it), got ${describeValue(parameters.path)}`, { field: 'path', actual: shownValue(parameters.path) });
  }
  const shrinkTimeLimit = parameters.shrinkTimeLimit === undefined ? null : nonNegativeNumber(parameters.shrinkTimeLimit, 'shrinkTimeLimit');
  return {
    search: {
      numRuns,
      ...(parameters.seed === undefined ? {} : { seed: parameters.seed }),
      ...(parameters.path === undefined ? {} : { path: parameters.path }),
      ...(shrinkTimeLimit === null ? {} : { endOnFailure: true }),
    },
    shrinkTimeLimit,
  };
}

function shrinkFrom<Case>(found: fc.RunDetails<[Case]>, shrinkTimeLimit: number): fc.Parameters<[Case]> {
  return { seed: found.seed, path: found.counterexamplePath!, interruptAfterTimeLimit: shrinkTimeLimit };
}

/** The run whose case a failure reports: the shrunk one, or, out of time before the replay, the one found. */
function reported<Case>(found: fc.RunDetails<[Case]>, shrunkFor: fc.RunDetails<[Case]> | null): fc.RunDetails<[Case]> {
  return shrunkFor?.failed === true && shrunkFor.counterexample !== null ? shrunkFor : found;
}

/**
 * Whether the run's mismatch is an error near its allowance: only then is the first failing case
 * run again ({@link beforeShrinking}), so an implementation's calls are not repeated for nothing.
 */
function nearAllowance<Case>(details: fc.RunDetails<[Case]>): boolean {
  const m = details.errorInstance instanceof MismatchFound ? details.errorInstance.mismatch : null;
  return m?.error !== undefined && m.allowed !== undefined && m.error / m.allowed < NEAR_ALLOWANCE;
}

/** The case that failed first, before any shrinking: the head of the failure's path, run alone. */
function firstFailing<Case>(found: fc.RunDetails<[Case]>): fc.Parameters<[Case]> {
  return { seed: found.seed, path: found.counterexamplePath!.split(':')[0]!, endOnFailure: true };
}

/** The error a failed run ends the check with; `first` is what the first failing case threw, before shrinking, when it was run. */
function failure<Case extends Counterexample>(
  found: fc.RunDetails<[Case]>,
  shrunkFor: fc.RunDetails<[Case]> | null,
  first: unknown,
  settings: RunSettings<Case>,
  description: CheckDescription<Case>,
): Error {
  const { check, claim, describeCase, keepFirst } = description;
  if (found.errorInstance instanceof AsyncImplementation) {
    return new AttentionError(
      'INVALID_ARGUMENT',
      `${check}: ${found.errorInstance.call} returned a promise; ${check} runs synchronous implementations (push, flush and the cache operations return their results): check one whose calls return promises with ${check}Async`,
      { field: 'factory' },
    );
  }
  const details = reported(found, shrunkFor);
  const cutShort = shrunkFor?.interrupted === true;
  const error = details.errorInstance;
  const failed = error instanceof MismatchFound ? error : null;
  // fast-check shrinks lists from the front, so items after the failing call can survive
  // shrinking; they never ran, and the same case without them fails the same way.
  const shrunk = details.counterexample![0];
  const counterexample = failed?.consumed == null ? shrunk : keepFirst(shrunk, failed.consumed);
  const mismatch: Mismatch = failed?.mismatch ?? { kind: 'threw', call: check, description: `the check itself threw ${describeError(error)}` };
  const path = details.counterexamplePath ?? '';
  const message = [
    `${check}: ${claim}.`,
    `Shrunk counterexample (failed at run ${found.numRuns}, then ${details.numShrinks} shrinks${cutShort ? `, stopped by shrinkTimeLimit (${settings.shrinkTimeLimit} ms): maybe not the smallest` : ''}):`,
    ...describeCase(counterexample, failed).map((line) => `  ${line}`),
    ...formatMismatch(mismatch).map((line) => `  ${line}`),
    ...beforeShrinking(mismatch, first, found.numRuns).map((line) => `  ${line}`),
    `Replay it: ${check}(factory, { ...the same parameters, seed: ${details.seed}, path: '${path}' })`,
  ].join('\n');
  return new VerificationError(message, { counterexample, mismatch, seed: details.seed, path, numRuns: found.numRuns, numShrinks: details.numShrinks });
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

/**
 * For an error shrunk to near its allowance, the first failing case's: shrinking makes the inputs
 * smaller, and with them an error that grows with them (a missing scale, say), until it barely
 * fails, where it reads like rounding. `first` is run only for such an error ({@link nearAllowance});
 * nothing without it, or where the first case was no further off.
 */
function beforeShrinking(m: Mismatch, first: unknown, run: number): string[] {
  const f = first instanceof MismatchFound ? first.mismatch : null;
  if (m.error === undefined || m.allowed === undefined || f?.error === undefined || f.allowed === undefined) return [];
  const [shrunk, before] = [m.error / m.allowed, f.error / f.allowed];
  if (!(before > shrunk)) return [];
  const times = before === Infinity ? 'where none was allowed' : `${before < 100 ? before.toPrecision(2) : Math.round(before).toLocaleString('en-US')}× its allowance`;
  return [
    `Before shrinking (run ${run}) it was ${f.call}: max error ${formatError(f.error)} (allowed there: ${formatError(f.allowed)}), ${times}:`,
    '  the error shrank with the inputs, so one near its allowance here is no sign of rounding.',
  ];
}

/** Errors below this many times their allowance read as rounding; past it, as a bug. */
const NEAR_ALLOWANCE = 10;

/** `check()`, with a `path` fast-check cannot replay refused as such (it throws a plain Error). */
function replayable<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw unreplayable(error);
  }
}

/** INVALID_ARGUMENT for fast-check's refusal of a `path`; any other error as it is. */
function unreplayable(error: unknown): unknown {
  if (!(error instanceof Error && error.message.startsWith('Unable to replay'))) return error;
  return new AttentionError('INVALID_ARGUMENT', `path is not one this run can replay (${error.message}); pass the path a VerificationError reported, with its seed`, { field: 'path' });
}
