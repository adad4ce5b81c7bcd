import { Observable, Subject, takeUntil } from 'rxjs';
import type { OperatorFunction } from 'rxjs';
import { attentionFromResolved, resolveOptions } from '../attention/index.js';
import type { Attention, AttentionOptions, AttentionStep, Float32Precision, Float64Precision, Vector } from '../attention/index.js';
import { AttentionError, describeValue } from '../errors.js';
import { hold, holderOf, letGo } from './engine-holders.js';
import type { Holder } from './engine-holders.js';
import { EngineTeardown } from './engine-teardown.js';
import type { FloatArray } from '../kernels/float-array.js';

/**
 * What {@link attend} needs of the engine a factory returns: push, flush and dispose (and
 * `disposed`, when it has one, to refuse an engine already disposed). The core's `Attention` is
 * one; so is a wrapper around it.
 *
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { createAttention } from 'attnstream';
 * import { attend } from 'attnstream/rx';
 * import type { AttendEngine } from 'attnstream/rx';
 * // An engine that counts its pushes, wrapped around the core's.
 * function counting(): AttendEngine {
 *   const engine = createAttention({ dim: 2 });
 *   let pushes = 0;
 *   return { push: (x) => (pushes++, engine.push(x)), flush: () => engine.flush(), dispose: () => (console.log(pushes, 'pushes'), engine.dispose()) };
 * }
 * from([[1, 0], [0, 1]]).pipe(attend(counting)).subscribe(); // 2 pushes
 * ```
 */
export type AttendEngine<Output extends FloatArray = FloatArray> = Pick<Attention<Output>, 'push' | 'flush' | 'dispose'> & {
  /** Whether it was disposed, when it says: an engine already disposed is refused. */
  readonly disposed?: boolean | undefined;
};

/**
 * Streams vectors through attention: each one is appended to a KV cache and the outputs that become
 * ready are emitted as {@link AttentionStep}s, in token order.
 *
 * 1. Every subscription creates its own engine from `options` as they were when the operator was
 *    made (validated and copied once, as `createAttention(options)` does; the operator keeps that
 *    copy, not the caller's arrays), or by calling `options` when it is a factory (so the caller
 *    can watch the engine, e.g. with `cacheEvents`; the operator still owns and disposes it): the
 *    operator is cold, so two subscribers never share a cache. To feed one engine to many
 *    subscribers, put `share()` after it.
 * 2. Each source value is pushed; its outputs (one for causal attention, none while `lookahead`
 *    waits) are emitted synchronously, before the next value is taken.
 * 3. A value (or the source's completion or error) that arrives while outputs are being emitted —
 *    a subscriber feeding an output back into the source — waits until they are out, and is then
 *    taken before the call that emitted them returns: every subscriber sees the steps in token
 *    order, and a feedback loop of any length runs in a loop, not one stack frame per token.
 * 4. When the source completes, outputs still waiting for look-ahead tokens are flushed (computed
 *    over the tokens there are), then the stream completes.
 * 5. A vector the engine refuses (wrong length, NaN, an overflow in a projection) errors the stream
 *    with the core's AttentionError, whose `details.token` is the vector's 0-based position; the
 *    source is unsubscribed and nothing more is computed.
 * 6. On completion, error or unsubscription the engine is disposed and its cache released.
 *
 * @throws AttentionError at once for bad options (INVALID_OPTION, DIMENSION_MISMATCH, NON_FINITE),
 *   as createAttention would. A factory that returns no engine (one without push, flush and
 *   dispose), an engine already disposed, or one a live subscription is pushing into (a factory
 *   written `() => engine`, subscribed twice or retried) errors the subscription with
 *   INVALID_ARGUMENT (field `options`): return a new engine, or a fork, from each call.
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { attend } from 'attnstream/rx';
 * from([[1, 0], [0, 1], [1, 1]])
 *   .pipe(attend({ dim: 2, withWeights: true }))
 *   .subscribe((step) => console.log(step.index, step.weights![0], step.output));
 * ```
 */
export function attend(options: AttentionOptions & Float64Precision): OperatorFunction<Vector, AttentionStep<Float64Array>>;
export function attend(options: AttentionOptions & Float32Precision): OperatorFunction<Vector, AttentionStep<Float32Array>>;
export function attend<Output extends FloatArray>(factory: () => AttendEngine<Output>): OperatorFunction<Vector, AttentionStep<Output>>;
export function attend(options: AttentionOptions | (() => AttendEngine)): OperatorFunction<Vector, AttentionStep>;
export function attend(options: AttentionOptions | (() => AttendEngine)): OperatorFunction<Vector, AttentionStep> {
  const create = engineFactory(options);
  // A plain Observable rather than concatMap over push's arrays: no inner subscription per token,
  // so the operator costs little beside the engine itself (the benchmark's rx section).
  return (source) =>
    new Observable<AttentionStep>((subscriber) => {
      const engine = create();
      const teardown = new EngineTeardown(engine);
      // Held while this subscription lives, so that a factory returning it again is refused.
      const holder: Holder = { operator: 'attend' };
      hold(engine, holder);
      // takeUntil links the source's subscriber to this one: once this one closes (an error, or a
      // consumer that stops mid-stream), even a synchronous source sees it closed at once, and
      // nothing more is read or computed.
      const closed = new Subject<void>();
      /** What the source sent while steps were being emitted, in order (see `receive`). */
      const waiting: (Vector | SourceEnd)[] = [];
      let emitting = false;
      subscriber.add(() => {
        closed.next();
        waiting.length = 0;
        letGo(engine, holder);
        teardown.dispose();
      });
      const emit = (run: () => AttentionStep[]): boolean => {
        let steps: AttentionStep[];
        try {
          steps = teardown.run(run);
        } catch (error) {
          subscriber.error(error);
          return false;
        }
        for (const step of steps) subscriber.next(step);
        return true;
      };
      const handle = (item: Vector | SourceEnd): void => {
        if (!(item instanceof SourceEnd)) emit(() => engine.push(item));
        else if (item.failed) subscriber.error(item.error);
        else if (emit(() => engine.flush())) subscriber.complete();
      };
      /**
       * Handles what the source sent, in turn. What arrives while steps are being emitted (a
       * subscriber feeding an output back) waits, and the outermost call handles it once those
       * steps are out: handled at once, it recursed a level per token, overflowed the stack at
       * about 700 tokens, and showed a second subscriber (after share) the steps backwards.
       */
      const receive = (item: Vector | SourceEnd): void => {
        if (subscriber.closed) return;
        if (emitting) {
          waiting.push(item);
          return;
        }
        emitting = true;
        try {
          handle(item);
          while (waiting.length > 0 && !subscriber.closed) handle(waiting.shift()!);
        } finally {
          emitting = false;
        }
      };
      subscriber.add(
        source.pipe(takeUntil(closed)).subscribe({
          next: receive,
          error: (error: unknown) => receive(new SourceEnd(true, error)),
          complete: () => receive(new SourceEnd(false, undefined)),
        }),
      );
    });
}

/** The source's completion (`failed` false) or error, which waits its turn behind vectors as they do. */
class SourceEnd {
  constructor(
    readonly failed: boolean,
    readonly error: unknown,
  ) {}
}

/**
 * What makes each subscription's engine. Options are read once, here: later changes to the
 * caller's objects (its weight arrays) do not reach the engines, and every engine shares the one
 * copy of the weights. The factory branch is a function of its own: a closure made beside the one
 * returned here would share its scope, and through it keep the caller's options (its weight
 * arrays) alive as long as the operator.
 */
function engineFactory(options: AttentionOptions | (() => AttendEngine)): () => AttendEngine {
  if (typeof options === 'function') return checkedFactory(options);
  const resolved = resolveOptions(options);
  return () => attentionFromResolved(resolved);
}

/** `factory`, each engine it returns checked before the stream relies on it. */
function checkedFactory(factory: () => AttendEngine): () => AttendEngine {
  return () => {
    const engine: unknown = factory();
    const refuse = (what: string): never => {
      throw new AttentionError('INVALID_ARGUMENT', `attend: the factory returned ${what}`, { field: 'options' });
    };
    // A teardown calling dispose on null crashed the process.
    const methods = engine === null || typeof engine !== 'object' ? [] : (['push', 'flush', 'dispose'] as const).filter((m) => typeof (engine as Record<string, unknown>)[m] === 'function');
    if (methods.length < 3) refuse(`${describeValue(engine)}, not an engine (with push, flush and dispose)`);
    const each = 'return a new engine (or a fork) from each call; to give one engine\'s steps to many subscribers, put share() after attend';
    // Pushing into it failed with a DISPOSED that did not say why (a retry of `() => engine`).
    if ((engine as AttendEngine).disposed === true) refuse(`an engine already disposed (the operator disposes each subscription's engine at its end): ${each}`);
    // The two subscriptions would push into one cache in turn, each attending the other's tokens.
    if (holderOf(engine as object) !== undefined) refuse(`an engine a live subscription is pushing into: ${each}`);
    return engine as AttendEngine;
  };
}
