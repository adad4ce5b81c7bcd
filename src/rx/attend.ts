import { Observable, Subject, takeUntil } from 'rxjs';
import type { OperatorFunction } from 'rxjs';
import { attentionFromResolved, resolveOptions } from '../attention/index.js';
import type { Attention, AttentionOptions, AttentionStep, Vector } from '../attention/index.js';
import { AttentionError, describeValue } from '../errors.js';

/**
 * Streams vectors through attention: each one is appended to a KV cache and the outputs that become
 * ready are emitted as {@link AttentionStep}s, in token order.
 *
 * 1. Every subscription creates its own engine from `options` as they were when the operator was
 *    made (validated and copied once, as `createAttention(options)` does), or by calling
 *    `options` when it is a factory (so the caller can watch the engine, e.g. with `cacheEvents`;
 *    the operator still owns and disposes it): the operator is cold, so two subscribers never
 *    share a cache. To feed one engine to many subscribers, put `share()` after it.
 * 2. Each source value is pushed; its outputs (one for causal attention, none while `lookahead`
 *    waits) are emitted synchronously, before the next value is taken.
 * 3. When the source completes, outputs still waiting for look-ahead tokens are flushed (computed
 *    over the tokens there are), then the stream completes.
 * 4. A vector the engine refuses (wrong length, NaN, an overflow in a projection) errors the stream
 *    with the core's AttentionError, whose `details.token` is the vector's 0-based position; the
 *    source is unsubscribed and nothing more is computed.
 * 5. On completion, error or unsubscription the engine is disposed and its cache released.
 *
 * @throws AttentionError at once for bad options (INVALID_OPTION, DIMENSION_MISMATCH, NON_FINITE),
 *   as createAttention would. A factory that returns no engine (one without push, flush and
 *   dispose) errors the subscription with INVALID_ARGUMENT (field `options`).
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { attend } from 'attnstream/rx';
 * from([[1, 0], [0, 1], [1, 1]])
 *   .pipe(attend({ dim: 2, withWeights: true }))
 *   .subscribe((step) => console.log(step.index, step.weights![0], step.output));
 * ```
 */
export function attend(options: AttentionOptions | (() => Attention)): OperatorFunction<Vector, AttentionStep> {
  const create = engineFactory(options);
  // A plain Observable rather than concatMap over push's arrays: no inner subscription per token,
  // so the operator costs little beside the engine itself (the benchmark's rx section).
  return (source) =>
    new Observable<AttentionStep>((subscriber) => {
      const engine = create();
      // takeUntil links the source's subscriber to this one: once this one closes (an error, or a
      // consumer that stops mid-stream), even a synchronous source sees it closed at once, and
      // nothing more is read or computed.
      const closed = new Subject<void>();
      subscriber.add(() => {
        closed.next();
        engine.dispose();
      });
      const emit = (run: () => AttentionStep[]): boolean => {
        let steps: AttentionStep[];
        try {
          steps = run();
        } catch (error) {
          subscriber.error(error);
          return false;
        }
        for (const step of steps) subscriber.next(step);
        return true;
      };
      subscriber.add(
        source.pipe(takeUntil(closed)).subscribe({
          next: (x) => {
            if (!subscriber.closed) emit(() => engine.push(x));
          },
          error: (error) => subscriber.error(error),
          complete: () => {
            if (!subscriber.closed && emit(() => engine.flush())) subscriber.complete();
          },
        }),
      );
    });
}

/**
 * What makes each subscription's engine. Options are read once, here: later changes to the
 * caller's objects (its weight arrays) do not reach the engines, and every engine shares the one
 * copy of the weights.
 */
function engineFactory(options: AttentionOptions | (() => Attention)): () => Attention {
  if (typeof options === 'function') {
    return () => {
      const engine: unknown = options();
      // Checked before the stream relies on it: a teardown calling dispose on null crashed the process.
      const methods = engine === null || typeof engine !== 'object' ? [] : (['push', 'flush', 'dispose'] as const).filter((m) => typeof (engine as Record<string, unknown>)[m] === 'function');
      if (methods.length < 3) {
        throw new AttentionError('INVALID_ARGUMENT', `attend: the factory returned ${describeValue(engine)}, not an engine (with push, flush and dispose)`, { field: 'options' });
      }
      return engine as Attention;
    };
  }
  const resolved = resolveOptions(options);
  return () => attentionFromResolved(resolved);
}
