import type { Attention } from '../../src/index.js';
import type { CachedAttention } from '../../src/testing/index.js';

/**
 * `engine` with some methods replaced, every other call going to the engine itself. (A wrapper made
 * by Object.create(engine) would run the engine's own methods on the wrapper: a truncate there set
 * the wrapper's emitted count, which the real engine's pushes then never moved, and the kit now and
 * then blamed that instead of the bug a test plants.) A getter in `overrides` is read once, here:
 * define one on the result instead.
 */
export const delegate = (engine: Attention, overrides: Partial<CachedAttention> = {}): CachedAttention => ({
  get length() {
    return engine.length;
  },
  push: (x) => engine.push(x),
  flush: () => engine.flush(),
  fork: () => engine.fork(),
  truncate: (n) => engine.truncate(n),
  dispose: () => engine.dispose(),
  ...overrides,
});
