import { asyncScheduler, Observable } from 'rxjs';
import type { SchedulerLike, Subscription } from 'rxjs';
import { attentionFromResolved, resolveOptions } from '../attention/index.js';
import { vectorLength } from '../attention/vector.js';
import type { Attention, AttentionOptions, AttentionStep, Float32Precision, Float64Precision, ResolvedOptions, Vector } from '../attention/index.js';
import { AttentionError, describeValue } from '../errors.js';
import { hold, holderOf, letGo } from './engine-holders.js';
import type { Holder } from './engine-holders.js';
import { EngineTeardown } from './engine-teardown.js';
import type { FloatArray } from '../kernels/float-array.js';

/**
 * What {@link generate} pushes into: an attention engine, or anything with the same `push` — a
 * multi-layer model whose `push` runs every layer and returns the last step.
 *
 * @example
 * ```ts
 * import { createAttentionStack } from 'attnstream';
 * import { generate } from 'attnstream/rx';
 * import type { GenerationEngine } from 'attnstream/rx';
 * const stack = createAttentionStack({ layers: 2, dim: 2 });
 * // A two-layer model: layer 0's output is layer 1's input; the step returned is layer 1's.
 * const model: GenerationEngine = { push: (x) => stack.layer(1).push(stack.layer(0).push(x)[0]!.output) };
 * generate({ engine: model, first: [1, 0], next: (step) => step.output, maxTokens: 4 }).subscribe();
 * console.log(stack.length); // 4: both layers hold the four tokens
 * ```
 */
export type GenerationEngine<Output extends FloatArray = FloatArray> = Pick<Attention<Output>, 'push'>;

/**
 * Configures {@link generate}: where the steps come from, the first input and the feedback rule.
 *
 * @example
 * ```ts
 * import { generate } from 'attnstream/rx';
 * import type { GenerateOptions } from 'attnstream/rx';
 * const config: GenerateOptions = {
 *   options: { dim: 2 },
 *   first: [1, 0],
 *   next: (step) => (step.index < 2 ? step.output : null), // feed each output back; stop after token 2
 *   maxTokens: 10,
 * };
 * generate(config).subscribe({ next: (step) => console.log(step.index), complete: () => console.log('done') });
 * // 0, 1, 2, done
 * ```
 */
export type GenerateOptions<Output extends FloatArray = FloatArray> = GenerateSource<Output> & {
  /** The first input (`dim` numbers). */
  readonly first: Vector;
  /**
   * Decides the next input from the step just emitted; `null` ends the stream. Called only when
   * another token will be computed: not after the last of `maxTokens`, not after unsubscription.
   * (A method, so that a config typed for one precision's steps is also a config for either.)
   */
  next(step: AttentionStep<Output>): Vector | null;
  /** Most tokens to push, `first` included: a positive integer, or Infinity to rely on `next` or `take`. */
  readonly maxTokens: number;
  /** Yield to the event loop after every `yieldEvery` tokens (a positive integer). Default: never yield. */
  readonly yieldEvery?: number | undefined;
  /**
   * Where to continue after yielding. Default `asyncScheduler` (a macrotask, so a browser can paint).
   * Used only between the chunks of `yieldEvery` tokens, so it is refused without `yieldEvery`: alone
   * it would leave the loop synchronous, which is not what a caller giving a scheduler expects.
   */
  readonly scheduler?: SchedulerLike | undefined;
};

/**
 * Exactly one source of steps: `options` to create a fresh engine per subscription (disposed at
 * teardown), or an `engine` the caller owns (never disposed here; it keeps what was pushed).
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import { generate } from 'attnstream/rx';
 * import type { GenerateSource } from 'attnstream/rx';
 * const fresh: GenerateSource = { options: { dim: 2 } };
 * const engine = createAttention({ dim: 2 });
 * const owned: GenerateSource = { engine };
 * generate({ ...fresh, first: [1, 0], next: (step) => step.output, maxTokens: 3 }).subscribe(); // made an engine, disposed at the end
 * generate({ ...owned, first: [1, 0], next: (step) => step.output, maxTokens: 3 }).subscribe();
 * console.log(engine.length); // 3: the caller's engine keeps the tokens
 * ```
 */
export type GenerateSource<Output extends FloatArray = FloatArray> =
  | {
      /** Options of the engine created for each subscription and disposed at its teardown. */
      readonly options: AttentionOptions;
      /** Not given with `options`. */
      readonly engine?: undefined;
    }
  | {
      /** An engine the caller owns: pushed into, never disposed here. */
      readonly engine: GenerationEngine<Output>;
      /** Not given with `engine`. */
      readonly options?: undefined;
    };

/**
 * A feedback loop: pushes `first`, emits its step, asks `next(step)` for the following input,
 * pushes that, and so on — the shape of autoregressive generation.
 *
 * 1. On subscription the engine is made (from `options` as they were when `generate` was called:
 *    they are validated and copied once) or taken (`engine`), and `first` pushed.
 * 2. Every step a push returns is emitted; the next input is `next(lastStep)`.
 * 3. The stream completes when `next` returns null or `maxTokens` tokens were pushed.
 * 4. The loop is a loop, not recursion, so the stack does not grow however long it runs. It runs
 *    synchronously unless `yieldEvery` is set; then after every `yieldEvery` tokens it continues
 *    on `scheduler`, letting the event loop (a browser tab's input and painting) run in between.
 * 5. It checks for unsubscription after every emission: `take(5)` computes exactly five tokens and
 *    never calls `next` on the fifth.
 * 6. An error thrown by `next`, or an AttentionError from the engine (a bad vector names its token
 *    index), errors the stream and stops the loop.
 * 7. At teardown an engine made from `options` is disposed; a given `engine` is left as it is.
 *
 * Look-ahead cannot feed back: the output of token i is not ready until token i+L is pushed, so
 * options with `lookahead > 0` are refused, and a push that returns no step errors the stream.
 *
 * @throws AttentionError INVALID_OPTION at once for bad options, a missing or doubled source, a
 *   `first` that is not an array of numbers, a `lookahead`, a bad `maxTokens` or `yieldEvery`, a
 *   `scheduler` without `yieldEvery` (or without a `schedule` method), or a key that is not one of
 *   {@link GenerateOptions}' (a mistyped `yieldevery` would otherwise leave the loop synchronous),
 *   naming it; DIMENSION_MISMATCH or NON_FINITE for `options` whose weights are (as
 *   createAttention). The stream errors with INVALID_ARGUMENT when `next` returns neither an input
 *   nor null; when a push returns no step, or (a given engine's) no array of steps or an element
 *   that is not one, before emitting any of it; when a later run on the given engine
 *   started while it went on (the latest run holds it); and at once when a live `attend`
 *   subscription pushes into the given engine.
 * @example
 * ```ts
 * import { take } from 'rxjs';
 * import { generate } from 'attnstream/rx';
 * // Each output, rotated a quarter turn, becomes the next input.
 * generate({ options: { dim: 2 }, first: [1, 0], next: (step) => [-step.output[1]!, step.output[0]!], maxTokens: 100 })
 *   .pipe(take(3))
 *   .subscribe((step) => console.log(step.index, step.output));
 * ```
 */
export function generate(config: GenerateOptions<Float64Array> & { readonly options: AttentionOptions & Float64Precision }): Observable<AttentionStep<Float64Array>>;
export function generate(config: GenerateOptions<Float32Array> & { readonly options: AttentionOptions & Float32Precision }): Observable<AttentionStep<Float32Array>>;
export function generate<Output extends FloatArray>(config: GenerateOptions<Output> & { readonly engine: GenerationEngine<Output> }): Observable<AttentionStep<Output>>;
export function generate(config: GenerateOptions): Observable<AttentionStep>;
export function generate(config: GenerateOptions): Observable<AttentionStep> {
  checkKeys(config);
  // Read into locals here: the subscription's closure must not reach `config`, which would keep
  // the caller's options (their weight arrays) alive beside the copy in `owned`.
  const { first, next, maxTokens, yieldEvery, scheduler = asyncScheduler, engine: given } = config;
  const owned = checkSource(config);
  if (vectorLength(first) === undefined) invalid('first', `must be the first input, an array of numbers, got ${describeValue(first)}`);
  if (typeof next !== 'function') invalid('next', 'must be a function (step) => Vector | null');
  if (!(maxTokens === Infinity || (Number.isInteger(maxTokens) && maxTokens >= 1))) {
    invalid('maxTokens', `must be a positive integer or Infinity, got ${describeValue(maxTokens)}`);
  }
  if (yieldEvery !== undefined && !(Number.isInteger(yieldEvery) && yieldEvery >= 1)) {
    invalid('yieldEvery', `must be a positive integer, got ${describeValue(yieldEvery)}`);
  }
  if (config.scheduler !== undefined) {
    if (yieldEvery === undefined) invalid('scheduler', 'is used only to continue after yieldEvery tokens; give yieldEvery too, or leave scheduler out to run synchronously');
    if (typeof (scheduler as Partial<SchedulerLike> | null)?.schedule !== 'function') invalid('scheduler', 'must be an rxjs scheduler (with a schedule method), such as asyncScheduler');
  }

  return new Observable<AttentionStep>((subscriber) => {
    const created = owned === null ? null : attentionFromResolved(owned);
    const engine: GenerationEngine = created ?? given!;
    const teardown = new EngineTeardown(created);
    // The latest run on a given engine holds it: an earlier one that would push again after it
    // started errors instead, since the two would push into one cache in turn. An attend
    // subscription's engine is not taken over: attend pushes whatever arrives, never asking first.
    const holder: Holder = { operator: 'generate' };
    if (created === null && holderOf(engine)?.operator === 'attend') {
      subscriber.error(new AttentionError('INVALID_ARGUMENT', 'generate: a live attend subscription is pushing into the engine given; two at once would push into one cache in turn, each attending the other\'s tokens: give this run its own engine (a fork, or options)', { field: 'engine' }));
      return;
    }
    if (created === null) hold(engine, holder);
    let input: Vector = first;
    // Whether the next input is next(last)'s to give: asked only when that token will be pushed
    // (after a yield, not before it: the subscriber may leave in between).
    let askNext = false;
    let last: AttentionStep | null = null;
    let pushed = 0;
    let pending: Subscription | null = null;

    /** Throws unless this run still holds the engine (see `holder`): `pushed` is the token it would push. */
    const assertHolds = (): void => {
      if (created !== null || holderOf(engine) === holder) return;
      throw new AttentionError('INVALID_ARGUMENT', 'generate: another run started on the engine given while this one went on; two at once would push into one cache in turn, each attending the other\'s tokens: give each run its own engine (a fork, or options)', { field: 'engine', token: pushed });
    };

    /** Runs tokens until done, unsubscribed, or due to yield (then schedules itself). */
    const run = (): void => {
      pending = null;
      try {
        for (let sinceYield = 0; ; ) {
          if (askNext) {
            // Before next is asked: superseded, this run would never push the token it decides.
            assertHolds();
            const following = next(last!);
            if (subscriber.closed) return;
            if (following === null) return subscriber.complete();
            // undefined (a forgotten return) would be refused by the push as an input x, saying nothing of next.
            if (vectorLength(following) === undefined) {
              throw new AttentionError('INVALID_ARGUMENT', `generate: next returned ${describeValue(following)} after token ${pushed - 1}, not an input; return null to stop`, { field: 'next', token: pushed });
            }
            input = following;
            askNext = false;
          }
          // Before every push: next may have just started a later run.
          assertHolds();
          const steps = pushedSteps(teardown.run(() => engine.push(input)), pushed);
          pushed++;
          for (const step of steps) {
            subscriber.next(step);
            if (subscriber.closed) return;
          }
          if (pushed >= maxTokens) return subscriber.complete();
          last = steps[steps.length - 1]!;
          askNext = true;
          if (yieldEvery !== undefined && ++sinceYield === yieldEvery) {
            pending = scheduler.schedule(run);
            return;
          }
        }
      } catch (error) {
        subscriber.error(error);
      }
    };

    run();
    return () => {
      // A scheduled continuation must not run after teardown.
      (pending as Subscription | null)?.unsubscribe();
      if (created === null) letGo(engine, holder);
      teardown.dispose();
    };
  });
}

/**
 * What a push of token `token` returned, refused (INVALID_ARGUMENT) unless it is a non-empty array
 * of steps, before any of it is emitted: a subscriber handed `null` as a step, or `next` given one,
 * would fail on it with a TypeError that says nothing of the engine.
 */
function pushedSteps(steps: unknown, token: number): AttentionStep[] {
  const refuse = (what: string, element?: number): never => {
    throw new AttentionError('INVALID_ARGUMENT', `generate: the push of token ${token} returned ${what}`, { field: 'engine', token, ...(element === undefined ? {} : { element }) });
  };
  if (!Array.isArray(steps)) refuse(`${describeValue(steps)}, not an array of steps`);
  const list = steps as unknown[];
  if (list.length === 0) refuse('no step, so there is no output to decide the next input');
  const bad = list.findIndex((step) => !isStep(step));
  if (bad >= 0) refuse(`${describeValue(list[bad])} at element ${bad}, not a step (an object with a numeric index and an output array)`, bad);
  return list as AttentionStep[];
}

/** Whether `value` has what generate hands on as a step: a numeric `index` and an `output` array. */
function isStep(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  const { index, output } = value as Partial<AttentionStep>;
  return typeof index === 'number' && vectorLength(output) !== undefined;
}

const KNOWN_KEYS = ['options', 'engine', 'first', 'next', 'maxTokens', 'yieldEvery', 'scheduler'];

/** Refuses a config that is not an object, or has a key generate would ignore (a typo, most likely). */
function checkKeys(config: GenerateOptions): void {
  if (config === null || typeof config !== 'object') invalid('config', 'must be an object { options | engine, first, next, maxTokens }');
  for (const key of Object.keys(config)) {
    if (!KNOWN_KEYS.includes(key)) invalid(key, `is not an option of generate (known: ${KNOWN_KEYS.join(', ')})`);
  }
}

/** The options an engine is made from for each subscription (read once, here), or null for a given engine. */
function checkSource(config: GenerateOptions): ResolvedOptions | null {
  const { options, engine } = config;
  if ((options === undefined) === (engine === undefined)) invalid('options', 'give exactly one of options (a fresh engine per subscription) and engine (one you own)');
  if (engine !== undefined) {
    if (engine === null || typeof engine.push !== 'function') invalid('engine', 'must have a push(x) method returning AttentionStep[]');
    const lookahead = (engine as Partial<Attention>).options?.lookahead ?? 0;
    if (lookahead > 0) invalid('lookahead', lookaheadRule(lookahead));
    return null;
  }
  const resolved = resolveOptions(options!);
  if (resolved.lookahead > 0) invalid('lookahead', lookaheadRule(resolved.lookahead));
  return resolved;
}

function lookaheadRule(lookahead: number): string {
  return `cannot be used with generate: each output decides the next input, but with lookahead ${lookahead} an output waits for ${lookahead} later inputs`;
}

function invalid(field: string, rule: string): never {
  throw new AttentionError('INVALID_OPTION', `generate: ${field} ${rule}`, { field });
}
