import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import type { AttentionOptions, Vector } from '../attention/index.js';
import { AttentionError, describeValue } from '../errors.js';
import { attentionOptionsArbitrary } from './attention-options-arbitrary.js';
import type { CacheOperation } from './cache-operation.js';
import type { AsyncCachedAttention, CachedAttention } from './cached-attention.js';
import type { AttentionFactory, Awaitable, CheckedStep } from './incremental-attention.js';
import { arbitraryOrAbsent, functionOf, integerAtLeast, knownParameters, nonNegativeNumber } from './internal/arguments.js';
import { compareStep } from './internal/compare-step.js';
import { errorBounds } from './internal/error-bounds.js';
import { DRAWN_WIDTH, fitToDim } from './internal/fit-to-dim.js';
import { formatOptions, formatVector } from './internal/format.js';
import { attempt, outcomeOf, pushCopy, release } from './internal/implementation-calls.js';
import type { Verification } from './internal/implementation-calls.js';
import { describeError, MismatchFound } from './internal/mismatch-found.js';
import { describeReturnedSteps } from './internal/returned-steps.js';
import { RUN_PARAMETERS, runCheck, runCheckAsync } from './internal/run-check.js';
import type { CheckDescription } from './internal/run-check.js';
import type { RunParameters } from './run-parameters.js';
import { defaultTolerance } from './internal/tolerance.js';
import { traceReference } from './reference-attention.js';
import { vectorArbitrary } from './vector-arbitrary.js';
import type { VectorConstraints } from './vector-arbitrary.js';

/**
 * Everything {@link checkCacheLaws} can be told; every field is optional, and no other is accepted.
 *
 * @example
 * ```ts
 * import { createAttention, restoreAttention } from 'attnstream';
 * import { attentionOptionsArbitrary, checkCacheLaws } from 'attnstream/testing';
 * import type { CheckCacheLawsParameters } from 'attnstream/testing';
 * const parameters: CheckCacheLawsParameters<Uint8Array> = {
 *   numRuns: 30,
 *   maxOperations: 24,
 *   optionsArbitrary: attentionOptionsArbitrary({ maxWindow: 3 }),
 *   restore: (snapshot) => restoreAttention(snapshot), // cases now also snapshot and restore
 * };
 * checkCacheLaws(createAttention, parameters);
 * ```
 */
export interface CheckCacheLawsParameters<Snapshot = unknown> extends RunParameters {
  /**
   * How far an engine's step may be from a fresh engine's, as in {@link CheckIncrementalParameters}
   * (applied to both sides): a finite number ≥ 0. Deterministic engines give identical steps.
   */
  readonly tolerance?: number | undefined;
  /** Options to draw. Default {@link attentionOptionsArbitrary}(). */
  readonly optionsArbitrary?: Arbitrary<AttentionOptions> | undefined;
  /** Most operations per case. Default 16. */
  readonly maxOperations?: number | undefined;
  /** How pushed tokens are drawn (16 wide, fitted to the options' dim). Default magnitude 1. */
  readonly vector?: VectorConstraints | undefined;
  /**
   * Rebuilds an engine from `engine.snapshot()`. When given, cases also snapshot engines, restore
   * them and check the restored engine continues exactly as the original would.
   */
  readonly restore?: ((snapshot: Snapshot, options: AttentionOptions) => CachedAttention<Snapshot>) | undefined;
}

interface CacheLawsCase {
  readonly options: AttentionOptions;
  readonly operations: CacheOperation[];
}

/** What happened to an engine, as a fresh engine would replay it. */
type Event = { readonly type: 'push'; readonly x: readonly number[] } | { readonly type: 'flush' };

interface Live<Snapshot> {
  readonly id: number;
  readonly engine: AsyncCachedAttention<Snapshot>;
  history: Event[];
  /**
   * How many steps its stream (forks and restores inherit it) has emitted at the most: the next
   * query then, `reach`, attends no key j ≥ sinks with j ≤ reach − window, nor does any later
   * query, so from then on such keys may be gone.
   */
  reach: number;
}

/**
 * Checks the laws of the cache operations against a model deliberately simpler than any cache: an
 * engine is its history, the list of pushes and flushes a fresh engine would replay. Each case
 * starts one engine, applies a drawn list of {@link CacheOperation}s to the live engines, and
 * requires
 *
 * 1. every `push` and `flush` to return what a fresh `factory(options)` fed the same history
 *    returns at that call (same tokens, outputs within tolerance, same positions and weights;
 *    with `withWeights: true`, positions and weights present);
 * 2. `fork()`: the twin and the original go on independently, each like a fresh engine fed its
 *    own history;
 * 3. `truncate(n)`: afterwards like a fresh engine fed the first n tokens; it may refuse (throw)
 *    only when its next query needs a key a window may already have evicted (one no query after
 *    the furthest emitted attends: with window W and S sinks, a key j ≥ S with j ≤ reach − W,
 *    reach the most steps the stream has emitted), and must then change nothing;
 * 4. with `restore`, `restore(e.snapshot(), options)` continues like `e`; `dispose()` of one engine
 *    leaves the others (forks of it included) unaffected;
 * 5. `length` to equal the tokens of the history after every operation; and finally every live
 *    engine's `flush()` to match a fresh engine's.
 *
 * Outputs are compared with the fresh engine's, not with the reference, so an implementation
 * whose arithmetic differs from the reference is still checked for its cache alone (check that
 * with {@link checkIncremental}). On failure it throws a {@link VerificationError} whose message
 * lists the calls made, the failing one last.
 *
 * @throws VerificationError when a law fails; AttentionError INVALID_ARGUMENT, naming the
 *   parameter, for an unknown parameter key (the message lists the known ones), a `numRuns` or
 *   `maxOperations` that is not an integer ≥ 1, a `tolerance` that is not a finite number ≥ 0, a
 *   `seed` that is not an integer, a `path` that is not a string, a `shrinkTimeLimit` that is not a
 *   finite number ≥ 0, or a `restore` that is not a function; INVALID_ARGUMENT (field `factory`)
 *   when the implementation returns a promise: check such an implementation with
 *   {@link checkCacheLawsAsync}.
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import { checkCacheLaws } from 'attnstream/testing';
 * checkCacheLaws(createAttention, { numRuns: 20 });
 * ```
 */
export function checkCacheLaws<Snapshot>(
  factory: AttentionFactory<CachedAttention<Snapshot>>,
  parameters: CheckCacheLawsParameters<Snapshot> = {},
): void {
  const { cases, verify } = cacheLawsCheck(factory, parameters, 'checkCacheLaws');
  runCheck(cases, verify, parameters, cacheLawsDescription('checkCacheLaws'));
}

/**
 * Everything {@link checkCacheLawsAsync} can be told: {@link CheckCacheLawsParameters}, with a
 * `restore` that may return a promise of the engine.
 *
 * @example
 * ```ts
 * import { createAttention, restoreAttention } from 'attnstream';
 * import type { CheckCacheLawsAsyncParameters } from 'attnstream/testing';
 * const parameters: CheckCacheLawsAsyncParameters<Uint8Array> = { numRuns: 30, restore: async (bytes) => restoreAttention(bytes) };
 * console.log(Object.keys(parameters)); // [ 'numRuns', 'restore' ]
 * ```
 */
export interface CheckCacheLawsAsyncParameters<Snapshot = unknown> extends Omit<CheckCacheLawsParameters<Snapshot>, 'restore'> {
  /** Rebuilds an engine from `engine.snapshot()`, as in {@link CheckCacheLawsParameters.restore}; may return a promise of it. */
  readonly restore?: ((snapshot: Snapshot, options: AttentionOptions) => Awaitable<AsyncCachedAttention<Snapshot>>) | undefined;
}

/**
 * {@link checkCacheLaws} for an implementation whose calls may return promises: the same laws,
 * cases, counterexamples and parameters, each call awaited before the next is made (reads of
 * `length` too). Resolves when all cases pass.
 *
 * @throws (rejects with) VerificationError when a law fails; AttentionError INVALID_ARGUMENT for
 *   bad parameters, as {@link checkCacheLaws}.
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { Attention } from 'attnstream';
 * import { checkCacheLawsAsync } from 'attnstream/testing';
 * import type { AsyncCachedAttention } from 'attnstream/testing';
 * const later = (engine: Attention): AsyncCachedAttention => ({
 *   get length() { return engine.length; },
 *   push: async (x) => engine.push(x),
 *   flush: async () => engine.flush(),
 *   fork: async () => later(engine.fork()),
 *   truncate: async (n) => engine.truncate(n),
 * });
 * await checkCacheLawsAsync((options) => later(createAttention(options)), { numRuns: 20 }); // resolves
 * ```
 */
export async function checkCacheLawsAsync<Snapshot>(
  factory: AttentionFactory<Awaitable<AsyncCachedAttention<Snapshot>>>,
  parameters: CheckCacheLawsAsyncParameters<Snapshot> = {},
): Promise<void> {
  const { cases, verify } = cacheLawsCheck(factory, parameters, 'checkCacheLawsAsync');
  await runCheckAsync(cases, verify, parameters, cacheLawsDescription('checkCacheLawsAsync'));
}

/** The parameters checked, and what the check draws and verifies. */
function cacheLawsCheck<Snapshot>(
  factory: AttentionFactory<Awaitable<AsyncCachedAttention<Snapshot>>>,
  parameters: CheckCacheLawsAsyncParameters<Snapshot>,
  check: string,
): { cases: Arbitrary<CacheLawsCase>; verify: (c: CacheLawsCase) => Verification } {
  functionOf(factory, 'factory');
  knownParameters(parameters, [...RUN_PARAMETERS, 'tolerance', 'optionsArbitrary', 'maxOperations', 'vector', 'restore'], check);
  const tolerance = parameters.tolerance === undefined ? null : nonNegativeNumber(parameters.tolerance, 'tolerance');
  const maxOperations = integerAtLeast(parameters.maxOperations ?? 16, 1, 'maxOperations');
  if (parameters.restore !== undefined && typeof parameters.restore !== 'function') {
    throw new AttentionError('INVALID_ARGUMENT', `restore must be a function (snapshot, options) => engine, got ${describeValue(parameters.restore)}`, { field: 'restore' });
  }
  const restore = parameters.restore === undefined ? null : parameters.restore.bind(parameters);
  // size 'max': fast-check 4 would otherwise draw 12 operations at most, whatever maxOperations says.
  const operations = fc.array(operationArbitrary(maxOperations, restore !== null, parameters.vector), { minLength: 1, maxLength: maxOperations, size: 'max' });
  const cases = fc
    .tuple(arbitraryOrAbsent(parameters.optionsArbitrary, 'optionsArbitrary') ?? attentionOptionsArbitrary(), operations)
    .map(([options, drawn]) => ({ options, operations: drawn.map((op) => (op.type === 'push' ? { ...op, x: fitToDim(op.x, options.dim) } : op)) }));
  return { cases, verify: (c) => verifyCacheLaws(factory, restore, c, tolerance ?? defaultTolerance(c.options)) };
}

function cacheLawsDescription(check: string): CheckDescription<CacheLawsCase> {
  return {
    check,
    claim: 'a cache operation breaks its law',
    describeCase: (c, failure) => [
      ...formatOptions(c.options),
      'calls:',
      ...(failure?.transcript ?? c.operations.map((op) => JSON.stringify(op))).map((line) => `  ${line}`),
    ],
    keepFirst: (c, consumed) => ({ ...c, operations: c.operations.slice(0, consumed) }),
  };
}

/**
 * Engine indices 0–3, taken modulo the live engines; pushes most often so histories grow. Tokens
 * are drawn {@link DRAWN_WIDTH} wide and fitted to the options' dim afterwards.
 */
function operationArbitrary(maxOperations: number, snapshots: boolean, vector: VectorConstraints | undefined): Arbitrary<CacheOperation> {
  const engine = fc.integer({ min: 0, max: 3 });
  const kinds: { arbitrary: Arbitrary<CacheOperation>; weight: number }[] = [
    { arbitrary: fc.record({ type: fc.constant('push' as const), engine, x: vectorArbitrary(DRAWN_WIDTH, vector) }), weight: 6 },
    { arbitrary: fc.record({ type: fc.constant('flush' as const), engine }), weight: 1 },
    { arbitrary: fc.record({ type: fc.constant('fork' as const), engine }), weight: 2 },
    { arbitrary: fc.record({ type: fc.constant('truncate' as const), engine, length: fc.integer({ min: 0, max: maxOperations }) }), weight: 2 },
    { arbitrary: fc.record({ type: fc.constant('dispose' as const), engine }), weight: 1 },
  ];
  if (snapshots) kinds.push({ arbitrary: fc.record({ type: fc.constant('snapshot' as const), engine }), weight: 1 });
  return fc.oneof(...kinds);
}

function* verifyCacheLaws<Snapshot>(
  factory: AttentionFactory<Awaitable<AsyncCachedAttention<Snapshot>>>,
  restore: ((snapshot: Snapshot, options: AttentionOptions) => Awaitable<AsyncCachedAttention<Snapshot>>) | null,
  c: CacheLawsCase,
  tolerance: number,
): Verification {
  const { options } = c;
  const transcript: string[] = [];
  const live: Live<Snapshot>[] = [];
  let created = 0;
  /** Operations run so far; null once the final flushes start (they need every operation). */
  let consumed: number | null = 0;
  function* call<T>(text: string, action: () => Awaitable<T>): Verification<T> {
    transcript.push(text);
    return yield* attempt(text, action);
  }
  function* start(text: string, action: () => Awaitable<AsyncCachedAttention<Snapshot>>, history: Event[], reach: number): Verification {
    const id = created++;
    live.push({ id, engine: yield* call(`e${id} = ${text}`, action), history, reach });
  }
  try {
    yield* start('factory(options)', () => factory(options), [], 0);
    yield* expectLength(live[0]!, transcript[0]!);
    for (const [n, op] of c.operations.entries()) {
      consumed = n + 1;
      const handle = live[op.engine % live.length]!;
      const e = `e${handle.id}`;
      switch (op.type) {
        case 'push': {
          const text = `${e}.push(${formatVector(op.x)})`;
          transcript.push(text);
          const steps = yield* pushCopy(text, (copy) => handle.engine.push(copy), op.x);
          handle.history.push({ type: 'push', x: op.x });
          handle.reach = Math.max(handle.reach, emitted(handle.history, options));
          yield* expectLikeFresh(factory, options, handle.history, steps, text, tolerance);
          break;
        }
        case 'flush': {
          const text = `${e}.flush()`;
          const steps = yield* call(text, () => handle.engine.flush());
          handle.history.push({ type: 'flush' });
          handle.reach = Math.max(handle.reach, emitted(handle.history, options));
          yield* expectLikeFresh(factory, options, handle.history, steps, text, tolerance);
          break;
        }
        case 'fork':
          yield* start(`${e}.fork()`, () => handle.engine.fork(), [...handle.history], handle.reach);
          break;
        case 'snapshot': {
          if (restore === null) break;
          const snapshot = yield* call(`s = ${e}.snapshot()`, () => {
            if (typeof handle.engine.snapshot !== 'function') throw new TypeError('restore was given but the engine has no snapshot()');
            return handle.engine.snapshot();
          });
          yield* start('restore(s, options)', () => restore(snapshot, options), [...handle.history], handle.reach);
          break;
        }
        case 'truncate':
          yield* truncate(handle, op.length, options, transcript);
          break;
        case 'dispose':
          // The last engine stays: a case always has one to go on with.
          if (live.length === 1) break;
          yield* call(`${e}.dispose()`, () => handle.engine.dispose?.());
          live.splice(live.indexOf(handle), 1);
          break;
      }
      for (const other of live) yield* expectLength(other, transcript.at(-1)!);
    }
    consumed = null;
    for (const handle of live) {
      const text = `e${handle.id}.flush()`;
      transcript.push(`${text}  (the check's closing flush of every live engine)`);
      const steps = yield* attempt(text, () => handle.engine.flush());
      handle.history.push({ type: 'flush' });
      yield* expectLikeFresh(factory, options, handle.history, steps, text, tolerance);
    }
  } catch (error) {
    if (error instanceof MismatchFound) {
      error.transcript = transcript;
      error.consumed = consumed;
    }
    throw error;
  } finally {
    // Pass or fail, every engine still live is released (what dispose throws here is not judged):
    // an implementation on a GPU or in a worker holds resources a run of cases would pile up.
    for (const handle of live) yield* release(`e${handle.id}.dispose()`, handle.engine);
  }
}

/**
 * `truncate(length)`, or past the tokens held (`held`), `truncate(held − (length − held) mod (held + 1))`;
 * a refusal is lawful only where the next query needs a key
 * a window may have evicted ({@link Live.reach}), and then changes nothing.
 */
function* truncate<Snapshot>(handle: Live<Snapshot>, length: number, options: AttentionOptions, transcript: string[]): Verification {
  const tokens = pushed(handle.history);
  const held = tokens.length;
  // A length past the engine's picks one it holds: drawn over the whole range, most lengths were
  // past a history of a few tokens, and a truncate to it takes nothing back (a kit audit: a RoPE
  // position counter truncate did not rewind showed in half the runs of 100).
  const n = length <= held ? length : held - ((length - held) % (held + 1));
  const text = `e${handle.id}.truncate(${n})`;
  transcript.push(text);
  const outcome = yield* outcomeOf(text, () => handle.engine.truncate(n));
  if (!outcome.ok) {
    const window = options.window ?? Infinity;
    // The keys query n − lookahead (the next once n tokens are held) attends beyond the sinks.
    const first = Math.max(options.sinks ?? 0, n - (options.lookahead ?? 0) - window + 1);
    if (first >= n || first > handle.reach - window) {
      const why =
        window === Infinity
          ? 'without a window, where nothing is evicted'
          : first >= n
            ? 'though no key its next query needs can have been evicted: it needs none beyond the sinks, which stay'
            : `though no key its next query needs ([${first}, ${n})) can have been evicted: the furthest query emitted is ${handle.reach - 1}, and a window of ${window} lets go of keys up to ${handle.reach - window} at most`;
      throw new MismatchFound({ kind: 'threw', call: text, description: `refused ${why}: ${describeError(outcome.error)}` });
    }
    transcript[transcript.length - 1] = `${text}  (refused: ${describeError(outcome.error)})`;
    return;
  }
  handle.history = tokens.slice(0, n).map((x) => ({ type: 'push', x }));
}

/** Steps a fresh engine fed `history` has emitted: each push emits the token `lookahead` back, a flush the rest. */
function emitted(history: readonly Event[], options: AttentionOptions): number {
  let tokens = 0;
  let out = 0;
  for (const event of history) {
    if (event.type === 'push') out = Math.max(out, ++tokens - (options.lookahead ?? 0));
    else out = tokens;
  }
  return out;
}

function pushed(history: readonly Event[]): (readonly number[])[] {
  return history.flatMap((event) => (event.type === 'push' ? [event.x] : []));
}

function* expectLength<Snapshot>(handle: Live<Snapshot>, after: string): Verification {
  const tokens = pushed(handle.history);
  const held = tokens.length;
  const length = yield* attempt(`e${handle.id}.length`, () => handle.engine.length);
  if (length === held) return;
  throw new MismatchFound({ kind: 'length', call: after, description: `afterwards e${handle.id}.length is ${length}, but its history holds ${held} ${held === 1 ? 'token' : 'tokens'}` });
}

/** Fails unless `steps` (returned by `text`) match what a fresh engine replaying `history` returns at its last event. */
function* expectLikeFresh<Snapshot>(
  factory: AttentionFactory<Awaitable<AsyncCachedAttention<Snapshot>>>,
  options: AttentionOptions,
  history: readonly Event[],
  steps: readonly CheckedStep[],
  text: string,
  tolerance: number,
): Verification {
  const fresh = yield* attempt('factory(options) for the fresh replay', () => factory(options));
  let expected: readonly CheckedStep[] = [];
  try {
    for (const event of history) {
      expected = event.type === 'push' ? yield* pushCopy('the fresh replay', (copy) => fresh.push(copy), event.x) : yield* attempt('the fresh replay', () => fresh.flush());
    }
  } finally {
    yield* release('the fresh replay', fresh);
  }
  // The replay runs the implementation too: steps it cannot give are its mismatch, not the kit's crash.
  if (!Array.isArray(expected) || !expected.every((s: Partial<CheckedStep> | null) => Number.isInteger(s?.index))) {
    throw new MismatchFound({
      kind: 'emission',
      call: text,
      description: `returned ${Array.isArray(steps) ? `${steps.length} steps` : String(steps)}; a fresh engine fed the same history returned ${Array.isArray(expected) ? 'steps without an index' : String(expected)}, not an array of steps`,
    });
  }
  const want = expected.map((s) => s.index);
  if (!Array.isArray(steps) || steps.length !== want.length || steps.some((s: Partial<CheckedStep> | null, n) => s?.index !== want[n])) {
    throw new MismatchFound({
      kind: 'emission',
      call: text,
      description: `returned ${describeReturnedSteps(steps)}; a fresh engine fed the same history returns the steps of tokens [${want.join(', ')}]`,
    });
  }
  const tokens: Vector[] = pushed(history);
  const reference = traceReference(tokens, options);
  const bounds = errorBounds(tokens, options, reference.steps, tolerance, 2, reference.logWeights, reference.sinkLogWeights);
  steps.forEach((step, n) => {
    const mismatch = compareStep(step, expected[n]!, bounds[step.index]!, text, options.withWeights === true, false);
    if (mismatch !== null) throw new MismatchFound({ ...mismatch, description: `${mismatch.description} (expected: what a fresh engine fed the same history returns)` });
  });
}
