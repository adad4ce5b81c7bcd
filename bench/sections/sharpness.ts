import { engineOptions } from '../impls/attnstream-implementation.js';
import { restoredEngine } from '../impls/restored-engine.js';
import { stepsContender } from '../interleave.js';
import { interleaveSteps, stepRows, timedStep } from '../restored-step.js';
import type { Profile } from '../profile.js';
import type { Progress } from '../progress.js';
import { relativeError, summarize } from '../stats.js';
import type { Summary } from '../stats.js';

/** The peaked case's score scale: scores ~40× the grid's spread apart (most weights under e^−87). */
export const PEAKED_SCALE = 40;

export interface SharpnessRow {
  readonly kernels: 'auto' | 'js';
  /** µs per step with the grid's scale, 1/√D: scores within a few tenths, a flat softmax. */
  readonly flat: Summary;
  /** µs per step with scale PEAKED_SCALE: scores tens of units apart, a sharply peaked softmax. */
  readonly peaked: Summary;
}

export interface SharpnessResult {
  readonly heads: number;
  readonly headDim: number;
  readonly n: number;
  readonly rows: readonly SharpnessRow[];
  /** Relative max difference between the two kernel sets' outputs, peaked. */
  readonly error: number;
}

/**
 * The decode step over one cache with a flat and with a sharply peaked softmax, for each kernel
 * set: the arithmetic is the same, so the times should be too. Its reason to exist: float32
 * weights far below the largest made subnormal products, which x86 computes through slow
 * microcode assists (WebAssembly cannot flush them to zero), and a peaked step once ran 3.6–9×
 * slower (9.2× here at scale 40). Interleaved rounds of steps, µs per step.
 */
export function runSharpness(profile: Profile, progress: Progress): SharpnessResult {
  const { heads, headDim, n, rounds } = profile.sharpness;
  const rows = stepRows(heads * headDim, heads * headDim, n);
  const kernelSets = ['auto', 'js'] as const;
  const outputs = new Map<string, ArrayLike<number>>();
  const contenders = kernelSets.flatMap((kernels) =>
    (['flat', 'peaked'] as const).map((shape) => {
      const id = `${kernels} ${shape}`;
      const options = { ...engineOptions(heads, headDim, kernels), ...(shape === 'peaked' ? { scale: PEAKED_SCALE } : {}) };
      const engine = restoredEngine(options, rows.keys, rows.values, n);
      return { ...stepsContender(id, () => timedStep(engine, rows, n, (output) => outputs.set(id, output)), 250_000), engine };
    }),
  );
  const micros = interleaveSteps(contenders, rounds, progress, (id) => `softmax sharpness · ${id}`);
  return {
    heads,
    headDim,
    n,
    rows: kernelSets.map((kernels) => ({ kernels, flat: summarize(micros.get(`${kernels} flat`)!), peaked: summarize(micros.get(`${kernels} peaked`)!) })),
    error: relativeError(outputs.get('auto peaked')!, outputs.get('js peaked')!),
  };
}
