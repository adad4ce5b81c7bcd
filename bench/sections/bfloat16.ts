import { createLinear } from '../../src/index.js';
import type { Linear } from '../../src/index.js';
import { embeddings, weightMatrix } from '../data.js';
import { interleave, timed } from '../interleave.js';
import type { Profile } from '../profile.js';
import type { Progress } from '../progress.js';
import { pairedRatios, summarize } from '../stats.js';
import type { Summary } from '../stats.js';

const SEED_BFLOAT16 = 12;

export interface Bfloat16Row {
  readonly rows: number;
  readonly cols: number;
  /** Layers of this shape applied in turn, each its own matrix (as a decoder's layers take a token one after another). */
  readonly layers: number;
  /** Inputs per call. */
  readonly inputs: number;
  /** µs per input and layer: createLinear over float32 weights, and over the same rounded to bfloat16. */
  readonly float32: Summary;
  readonly bfloat16: Summary;
  /** float32 ÷ bfloat16, per round. */
  readonly ratio: Summary;
  /** Whether the bfloat16 layers' outputs were bit for bit a float32 layer's over their rounded weights. */
  readonly sameBits: boolean;
}

/**
 * `createLinear` with `weightsDtype: 'bfloat16'` against float32 weights, for each shape of the
 * profile: one layer, whose matrix stays in the caches between calls, and several applied in turn,
 * whose matrices together outgrow the caches as a decoder's layers do (every token reads every
 * layer's weights). Interleaved rounds, µs per input and layer.
 */
export function runBfloat16(profile: Profile, progress: Progress): Bfloat16Row[] {
  const { shapes, inputs, calls: fewest, multiplyAdds, rounds } = profile.bfloat16;
  progress.plan(2 * rounds * shapes.length * inputs.length);
  return shapes.flatMap(([rows, cols, layers]) => {
    const weights = Array.from({ length: layers }, (_, l) => weightMatrix(SEED_BFLOAT16 + l, rows, cols));
    const half = weights.map((weight) => createLinear({ rows, cols, weight, weightsDtype: 'bfloat16' }));
    const single = weights.map((weight) => createLinear({ rows, cols, weight }));
    // The rounded weights, read back row by row through row(): a float32 layer over them is the reference.
    const roundedWeight = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) half[0]!.row(r, roundedWeight.subarray(r * cols, (r + 1) * cols));
    const rounded = createLinear({ rows, cols, weight: roundedWeight });
    const rowsOut = inputs.map((n): Bfloat16Row => {
      const xs = embeddings(n, cols);
      const out = new Float32Array(n * rows);
      const calls = Math.max(fewest, Math.ceil(multiplyAdds / (rows * cols * n * layers)));
      const apply = (layer: readonly Linear[]) => () => timed(() => { for (let k = 0; k < calls; k++) for (const l of layer) l.applyMany(xs, out); });
      const seconds = interleave(
        [
          { id: 'float32', run: apply(single) },
          { id: 'bfloat16', run: apply(half) },
        ],
        rounds,
        (id) => progress.tick(`bfloat16 ${rows}×${cols}${layers > 1 ? ` ×${layers}` : ''}, ${n} input${n === 1 ? '' : 's'} · ${id}`),
      );
      const perInput = (id: string) => summarize(seconds.get(id)!.map((s) => (s / calls / n / layers) * 1e6));
      const mine = half[0]!.applyMany(xs);
      const theirs = rounded.applyMany(xs);
      return {
        rows,
        cols,
        layers,
        inputs: n,
        float32: perInput('float32'),
        bfloat16: perInput('bfloat16'),
        ratio: pairedRatios(seconds.get('float32')!, seconds.get('bfloat16')!),
        sameBits: mine.every((v, i) => Object.is(v, theirs[i])),
      };
    });
    for (const layer of [...half, ...single, rounded]) layer.dispose();
    return rowsOut;
  });
}
