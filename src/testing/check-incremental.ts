import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import type { AttentionOptions } from '../attention/index.js';
import { attentionOptionsArbitrary } from './attention-options-arbitrary.js';
import type { AsyncIncrementalAttention, AttentionFactory, Awaitable, CheckedStep, IncrementalAttention } from './incremental-attention.js';
import { compareStep } from './internal/compare-step.js';
import { describeReturnedSteps } from './internal/returned-steps.js';
import { errorBounds } from './internal/error-bounds.js';
import { DRAWN_WIDTH, fitToDim } from './internal/fit-to-dim.js';
import { formatOptions, formatVector } from './internal/format.js';
import { attempt, pushCopy, release } from './internal/implementation-calls.js';
import type { Verification } from './internal/implementation-calls.js';
import { describeError, MismatchFound } from './internal/mismatch-found.js';
import { arbitraryOrAbsent, functionOf, knownParameters, nonNegativeNumber } from './internal/arguments.js';
import { RUN_PARAMETERS, runCheck, runCheckAsync } from './internal/run-check.js';
import type { CheckDescription } from './internal/run-check.js';
import type { RunParameters } from './run-parameters.js';
import { defaultTolerance } from './internal/tolerance.js';
import { traceReference } from './reference-attention.js';
import type { ReferenceTrace } from './reference-attention.js';
import { sequenceArbitrary } from './sequence-arbitrary.js';
import type { SequenceConstraints } from './sequence-arbitrary.js';

/**
 * Everything {@link checkIncremental} can be told; every field is optional, and no other is accepted.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import { checkIncremental } from 'attnstream/testing';
 * import type { CheckIncrementalParameters } from 'attnstream/testing';
 * const parameters: CheckIncrementalParameters = { numRuns: 50, tolerance: 1e-4, sequence: { maxLength: 16, magnitude: 1 } };
 * checkIncremental(createAttention, parameters);
 * // To replay a failure, add the { seed, path } its VerificationError reports.
 * ```
 */
export interface CheckIncrementalParameters extends RunParameters {
  /**
   * Relative error allowed beyond what rounding the scores in the options' precision explains,
   * measured against the size of the attended values: a finite number ≥ 0. Default 1e-9 for
   * `precision: 'float64'`, 1e-5 for 'float32' (the default precision).
   */
  readonly tolerance?: number | undefined;
  /** Options to draw. Default {@link attentionOptionsArbitrary}(): every option of the attention's math. */
  readonly optionsArbitrary?: Arbitrary<AttentionOptions> | undefined;
  /**
   * How token sequences are drawn. Default: 1 to 8 tokens, magnitude 1, 100 or 1e4. Tokens are
   * drawn 16 numbers wide and fitted to each case's dim (cut, or repeated beyond 16), so that
   * options and inputs shrink independently.
   */
  readonly sequence?: SequenceConstraints | undefined;
}

interface IncrementalCase {
  readonly options: AttentionOptions;
  readonly inputs: number[][];
}

/**
 * Checks that an incremental attention implementation equals {@link referenceAttention}: for each
 * drawn case it builds `factory(options)`, pushes the inputs one by one and flushes, and requires
 *
 * 1. every call to return exactly the steps that became due, in token order: token t's step from
 *    `push(x_t)`, or with look-ahead L from `push(x_{t+L})`, and the rest from `flush()`;
 * 2. every output to be finite, inside the hull of the attended values (through `wo` and `bo`) and
 *    within tolerance of the reference (see {@link CheckIncrementalParameters.tolerance}); the
 *    allowance also grows by what rounding the scores in the options' precision can change, and
 *    only for keys whose scores lie within that rounding of each other (near-ties), so a clear
 *    winner must win at any magnitude;
 * 3. with `withWeights: true` in the options, every step to carry positions and weights (kind
 *    'weights' when it does not); and positions and weights, whenever a step carries them, to
 *    equal the mask's positions and the reference weights (which must sum to 1, or with
 *    `sinkLogits` to 1 less the sink's weight);
 * 4. no output array to change after it was returned.
 *
 * It returns normally when all cases pass. On a failure fast-check shrinks the case, and this
 * throws a {@link VerificationError} whose message shows the options, the inputs, the failing call
 * and step, expected vs actual, the error against what was allowed, and the seed and path to
 * replay it; the same facts are its fields.
 *
 * @throws VerificationError when a property fails; AttentionError INVALID_ARGUMENT, naming the
 *   parameter, for an unknown parameter key (the message lists the known ones), a `numRuns` that
 *   is not an integer ≥ 1, a `tolerance` that is not a finite number ≥ 0, a `seed` that is not an
 *   integer, a `path` that is not a string, a `shrinkTimeLimit` that is not a finite number ≥ 0,
 *   or bad sequence constraints; INVALID_ARGUMENT (field `factory`) when the implementation
 *   returns a promise: check such an implementation with {@link checkIncrementalAsync}.
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import { checkIncremental } from 'attnstream/testing';
 * checkIncremental(createAttention, { numRuns: 20 }); // returns: the engine is correct
 * ```
 */
export function checkIncremental(factory: AttentionFactory<IncrementalAttention>, parameters: CheckIncrementalParameters = {}): void {
  const { cases, verify } = incrementalCheck(factory, parameters, 'checkIncremental');
  runCheck(cases, verify, parameters, incrementalDescription('checkIncremental'));
}

/**
 * {@link checkIncremental} for an implementation whose calls may return promises: the same cases,
 * checks, counterexamples and parameters, each call awaited before the next is made. Resolves when
 * all cases pass.
 *
 * @throws (rejects with) VerificationError when a property fails; AttentionError INVALID_ARGUMENT
 *   for bad parameters, as {@link checkIncremental}.
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import { checkIncrementalAsync } from 'attnstream/testing';
 * // An engine that answers from another thread, here the core engine behind a promise.
 * const later = (options: Parameters<typeof createAttention>[0]) => {
 *   const engine = createAttention(options);
 *   return { push: async (x: number[]) => engine.push(x), flush: async () => engine.flush() };
 * };
 * await checkIncrementalAsync(later, { numRuns: 20 }); // resolves: the engine is correct
 * ```
 */
export async function checkIncrementalAsync(factory: AttentionFactory<Awaitable<AsyncIncrementalAttention>>, parameters: CheckIncrementalParameters = {}): Promise<void> {
  const { cases, verify } = incrementalCheck(factory, parameters, 'checkIncrementalAsync');
  await runCheckAsync(cases, verify, parameters, incrementalDescription('checkIncrementalAsync'));
}

/** The parameters checked, and what the check draws and verifies. */
function incrementalCheck(
  factory: AttentionFactory<Awaitable<AsyncIncrementalAttention>>,
  parameters: CheckIncrementalParameters,
  check: string,
): { cases: Arbitrary<IncrementalCase>; verify: (c: IncrementalCase) => Verification } {
  functionOf(factory, 'factory');
  knownParameters(parameters, [...RUN_PARAMETERS, 'tolerance', 'optionsArbitrary', 'sequence'], check);
  const tolerance = parameters.tolerance === undefined ? null : nonNegativeNumber(parameters.tolerance, 'tolerance');
  const options = arbitraryOrAbsent(parameters.optionsArbitrary, 'optionsArbitrary') ?? attentionOptionsArbitrary();
  const cases = fc
    .tuple(options, sequenceArbitrary(DRAWN_WIDTH, parameters.sequence))
    .map(([o, drawn]) => ({ options: o, inputs: drawn.map((x) => fitToDim(x, o.dim)) }));
  return { cases, verify: (c) => verifyIncremental(factory, c, tolerance ?? defaultTolerance(c.options)) };
}

function incrementalDescription(check: string): CheckDescription<IncrementalCase> {
  return {
    check,
    claim: 'the implementation disagrees with referenceAttention',
    describeCase: describeIncrementalCase,
    keepFirst: (c, consumed) => ({ ...c, inputs: c.inputs.slice(0, consumed) }),
  };
}

function* verifyIncremental(factory: AttentionFactory<Awaitable<AsyncIncrementalAttention>>, c: IncrementalCase, tolerance: number): Verification {
  const { options, inputs } = c;
  let reference: ReferenceTrace;
  try {
    reference = traceReference(inputs, options);
  } catch (error) {
    throw new MismatchFound({ kind: 'invalid-case', call: 'referenceAttention(inputs, options)', description: `the reference refused the drawn case: ${describeError(error)}` });
  }
  const bounds = errorBounds(inputs, options, reference.steps, tolerance, 1, reference.logWeights, reference.sinkLogWeights);
  const engine = yield* attempt('factory(options)', () => factory(options));
  try {
    yield* verifyEngine(engine, c, reference, bounds);
  } finally {
    // Pass or fail: an engine on a GPU or in a worker holds resources a run of cases would pile up.
    yield* release('dispose()', engine);
  }
}

/** Pushes the case's inputs into `engine` and flushes it, each call's steps checked as they come. */
function* verifyEngine(engine: AsyncIncrementalAttention, c: IncrementalCase, reference: ReferenceTrace, bounds: ReturnType<typeof errorBounds>): Verification {
  const { options, inputs } = c;
  const lookahead = options.lookahead ?? 0;
  const returned: { step: CheckedStep; copy: number[]; call: string }[] = [];
  let due = 0;
  const receive = (call: string, steps: readonly CheckedStep[], last: number): void => {
    const expected = Array.from({ length: last - due + 1 }, (_, n) => due + n);
    expectSteps(call, steps, expected);
    for (const step of steps) {
      const mismatch = compareStep(step, reference.steps[step.index]!, bounds[step.index]!, call, options.withWeights === true);
      if (mismatch !== null) throw new MismatchFound(mismatch);
      returned.push({ step, copy: Array.from(step.output), call });
    }
    due = Math.max(due, last + 1);
  };
  for (const [t, x] of inputs.entries()) {
    const call = `push(x${t})`;
    try {
      receive(call, yield* pushCopy(call, (copy) => engine.push(copy), x), t - lookahead);
    } catch (error) {
      // Steps due by token t depend on tokens up to t only: later tokens play no part.
      if (error instanceof MismatchFound) error.consumed = t + 1;
      throw error;
    }
  }
  receive('flush()', yield* attempt('flush()', () => engine.flush()), inputs.length - 1);
  for (const { step, copy, call } of returned) expectUnchanged(step, copy, call);
}

/** Fails unless `steps` is an array of steps for exactly the tokens `expected`, in order. */
function expectSteps(call: string, steps: unknown, expected: readonly number[]): void {
  const indices = Array.isArray(steps) ? steps.map((s: Partial<CheckedStep> | null) => s?.index) : null;
  if (indices !== null && indices.length === expected.length && indices.every((index, n) => index === expected[n])) return;
  throw new MismatchFound({
    kind: 'emission',
    call,
    description: `returned ${describeReturnedSteps(steps)}; expected the steps of tokens [${expected.join(', ')}] (a step is due when its last look-ahead token arrives, the rest at flush)`,
  });
}

/** Fails when an output array no longer holds what it held when it was returned. */
function expectUnchanged(step: CheckedStep, copy: readonly number[], call: string): void {
  const now = Array.from(step.output);
  if (now.every((value, r) => Object.is(value, copy[r]))) return;
  throw new MismatchFound({
    kind: 'mutated',
    call,
    token: step.index,
    expected: copy,
    actual: now,
    description: `the output of token ${step.index} changed after it was returned: later calls must not write into returned arrays`,
  });
}

function describeIncrementalCase(c: IncrementalCase): string[] {
  return [...formatOptions(c.options), `inputs (${c.inputs.length} ${c.inputs.length === 1 ? 'token' : 'tokens'}):`, ...c.inputs.map((x, t) => `  x${t} = ${formatVector(x)}`)];
}

