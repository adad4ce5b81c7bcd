import { concatMap, concatWith, defer, finalize } from 'rxjs';
import type { OperatorFunction } from 'rxjs';
import { createAttention, resolveOptions } from '../attention/index.js';
import type { Attention, AttentionOptions, AttentionStep, Vector } from '../attention/index.js';

/**
 * Streams vectors through attention: each one is appended to a KV cache and the outputs that become
 * ready are emitted as {@link AttentionStep}s, in token order.
 *
 * 1. Every subscription creates its own engine with `createAttention(options)`, or by calling
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
 *   as createAttention would.
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
  const create = typeof options === 'function' ? options : (resolveOptions(options), () => createAttention(options));
  return (source) =>
    defer(() => {
      const engine = create();
      return source.pipe(
        concatMap((x) => engine.push(x)),
        concatWith(defer(() => engine.flush())),
        finalize(() => engine.dispose()),
      );
    });
}
