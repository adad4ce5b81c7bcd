import type { Attention } from '../../src/index.js';

/** The engine's private fields this file writes: they are not API, so their shape is checked first. */
interface EngineInternals {
  cache: { append(k: Float32Array, v: Float32Array, q: null): void; length: number };
  emitted: number;
}

/**
 * Loads tokens 0 … n−1 (token-major rows of keys and values, H·D numbers each) straight into a
 * fresh causal engine's cache, as if they had been pushed and their outputs taken.
 *
 * Why: the public API can only fill a cache by pushing, and every push attends, so reaching length
 * n costs O(n²) — hours at n = 32,768, H = 32. The benchmark times the step at length n, not the
 * road there. This reaches into the engine's private `cache` and `emitted`; the smoke test checks
 * that a cache filled this way answers exactly like one filled by pushQKV, so a change to the
 * internals fails a test instead of skewing a figure. Returns false (and writes nothing) when the
 * internals are not what this expects.
 */
export function directPrefill(engine: Attention, keys: Float32Array, values: Float32Array, n: number): boolean {
  const internals = engine as unknown as Partial<EngineInternals>;
  const cache = internals.cache;
  if (cache === undefined || typeof cache.append !== 'function' || typeof internals.emitted !== 'number') return false;
  const o = engine.options;
  if (engine.length !== 0 || o.lookahead !== 0 || o.window !== Infinity || o.positions !== 'none') return false;
  const width = o.kvHeads * o.headDim;
  for (let t = 0; t < n; t++) cache.append(keys.subarray(t * width, (t + 1) * width), values.subarray(t * width, (t + 1) * width), null);
  internals.emitted = n;
  return engine.length === n;
}
