import type { Attention } from '../src/index.js';
import { interleave } from './interleave.js';
import type { Contender } from './interleave.js';
import type { Progress } from './progress.js';
import { SEED_KEY, SEED_QUERY, SEED_VALUE, tokenRow, tokenRows } from './data.js';

/** What a decode step at length n reads and appends: the cache's n keys and values (kvWidth each), and token n's q, k and v. */
export interface StepRows {
  readonly keys: Float32Array;
  readonly values: Float32Array;
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
}

/** The bench data (bench/data.ts) for a step at length n with query rows of `queryWidth` and key and value rows of `kvWidth`. */
export function stepRows(queryWidth: number, kvWidth: number, n: number): StepRows {
  return {
    keys: tokenRows(SEED_KEY, n, kvWidth),
    values: tokenRows(SEED_VALUE, n, kvWidth),
    q: tokenRow(new Float32Array(queryWidth), SEED_QUERY, n, queryWidth),
    k: tokenRow(new Float32Array(kvWidth), SEED_KEY, n, kvWidth),
    v: tokenRow(new Float32Array(kvWidth), SEED_VALUE, n, kvWidth),
  };
}

/**
 * The µs of one decode step of `engine` (a restored cache of length n, bench/impls/restored-engine.ts),
 * which is then rolled back to n, so every step times the same cache. `onOutput` sees the step's output.
 */
export function timedStep(engine: Attention, rows: StepRows, n: number, onOutput: (output: ArrayLike<number>) => void = () => {}): number {
  const t0 = performance.now();
  const [step] = engine.pushQKV(rows.q, rows.k, rows.v);
  const micros = (performance.now() - t0) * 1000;
  engine.truncate(n);
  onOutput(step!.output);
  return micros;
}

/**
 * Interleaves step contenders over restored engines (bench/interleave.ts), `rounds` timed runs
 * each with a progress tick named by `tick`, then disposes the engines. Returns each contender's
 * µs per step, run by run.
 */
export function interleaveSteps(
  contenders: readonly (Contender & { readonly engine: Attention })[],
  rounds: number,
  progress: Progress,
  tick: (id: string) => string,
): Map<string, number[]> {
  progress.plan(contenders.length * rounds);
  const micros = interleave(contenders, rounds, (id) => progress.tick(tick(id)));
  for (const c of contenders) c.engine.dispose();
  return micros;
}
