import { createLinear } from '../../src/index.js';
import { weightMatrix } from '../data.js';
import { embeddings } from '../data.js';
import { interleave, timed } from '../interleave.js';
import type { Profile } from '../profile.js';
import type { Progress } from '../progress.js';
import { pairedRatios, relativeError, summarize } from '../stats.js';
import type { Summary } from '../stats.js';

const SEED_LINEAR = 11;

export interface LinearRow {
  readonly rows: number;
  readonly cols: number;
  /** Inputs per call. */
  readonly inputs: number;
  /** µs per input: createLinear on its default kernels, with `kernels: 'js'`, and plain loops. */
  readonly wasm: Summary;
  readonly js: Summary;
  readonly loops: Summary;
  /** loops ÷ wasm, per round. */
  readonly ratio: Summary;
  /** Relative max difference between the default kernels' outputs and the plain loops'. */
  readonly error: number;
}

/** `y = W·x` the way one writes it without a library: a float64 dot per row, one input at a time. */
function plainLoops(w: Float32Array, rows: number, cols: number, x: ArrayLike<number>, out: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += w[r * cols + c]! * x[c]!;
    out[r] = s;
  }
}

/**
 * A decoder's MLP projections outside attention: `createLinear` (default kernels, and `kernels:
 * 'js'`) against plain loops, for each shape of the profile and one or several inputs per call;
 * interleaved rounds, µs per input.
 */
export function runLinear(profile: Profile, progress: Progress): LinearRow[] {
  const { shapes, inputs, calls, rounds } = profile.linear;
  progress.plan(3 * rounds * shapes.length * inputs.length);
  return shapes.flatMap(([rows, cols]) => {
    const weight = weightMatrix(SEED_LINEAR, rows, cols);
    const wasm = createLinear({ rows, cols, weight });
    const js = createLinear({ rows, cols, weight, kernels: 'js' });
    const rowsOut = inputs.map((n): LinearRow => {
      const xs = embeddings(n, cols);
      const out = new Float32Array(n * rows);
      const loopsOut = new Float32Array(n * rows);
      const seconds = interleave(
        [
          { id: 'wasm', run: () => timed(() => { for (let k = 0; k < calls; k++) wasm.applyMany(xs, out); }) },
          { id: 'js', run: () => timed(() => { for (let k = 0; k < calls; k++) js.applyMany(xs, out); }) },
          {
            id: 'loops',
            run: () => timed(() => { for (let k = 0; k < calls; k++) xs.forEach((x, t) => plainLoops(weight, rows, cols, x, loopsOut.subarray(t * rows, (t + 1) * rows))); }),
          },
        ],
        rounds,
        (id) => progress.tick(`linear ${rows}×${cols}, ${n} input${n === 1 ? '' : 's'} · ${id}`),
      );
      const perInput = (id: string) => summarize(seconds.get(id)!.map((s) => (s / calls / n) * 1e6));
      wasm.applyMany(xs, out);
      return { rows, cols, inputs: n, wasm: perInput('wasm'), js: perInput('js'), loops: perInput('loops'), ratio: pairedRatios(seconds.get('loops')!, seconds.get('wasm')!), error: relativeError(out, loopsOut) };
    });
    wasm.dispose();
    js.dispose();
    return rowsOut;
  });
}
