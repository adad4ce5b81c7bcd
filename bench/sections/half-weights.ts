import { createLinear } from '../../src/index.js';
import type { Linear } from '../../src/index.js';
import { embeddings, weightMatrix } from '../data.js';
import { interleave, timed } from '../interleave.js';
import type { Profile } from '../profile.js';
import type { Progress } from '../progress.js';
import { pairedRatios, summarize } from '../stats.js';
import type { Summary } from '../stats.js';

const SEED_HALF_WEIGHTS = 12;

/** The 16-bit formats measured against float32. */
export const HALF_DTYPES = ['bfloat16', 'float16'] as const;
export type HalfDtype = (typeof HALF_DTYPES)[number];

/** One format's figures in a {@link HalfWeightsRow}. */
export interface HalfWeightsFigures {
  /** µs per input and layer. */
  readonly time: Summary;
  /** float32 ÷ this format, per round. */
  readonly ratio: Summary;
  /** Whether its outputs were bit for bit a float32 layer's over its rounded weights. */
  readonly sameBits: boolean;
}

export interface HalfWeightsRow {
  readonly rows: number;
  readonly cols: number;
  /** Layers of this shape applied in turn, each its own matrix (as a decoder's layers take a token one after another). */
  readonly layers: number;
  /** Inputs per call. */
  readonly inputs: number;
  /** µs per input and layer: createLinear over float32 weights. */
  readonly float32: Summary;
  /** The same weights rounded to each 16-bit format. */
  readonly halves: Readonly<Record<HalfDtype, HalfWeightsFigures>>;
}

/**
 * `createLinear` with `weightsDtype` 'bfloat16' and 'float16' against float32 weights, for each
 * shape of the profile: one layer, whose matrix stays in the caches between calls, and several
 * applied in turn, whose matrices together outgrow the caches as a decoder's layers do (every
 * token reads every layer's weights). Interleaved rounds, µs per input and layer.
 */
export function runHalfWeights(profile: Profile, progress: Progress): HalfWeightsRow[] {
  const { shapes, inputs, calls: fewest, multiplyAdds, rounds } = profile.halfWeights;
  progress.plan((1 + HALF_DTYPES.length) * rounds * shapes.length * inputs.length);
  return shapes.flatMap(([rows, cols, layers]) => {
    const weights = Array.from({ length: layers }, (_, l) => weightMatrix(SEED_HALF_WEIGHTS + l, rows, cols));
    const single = weights.map((weight) => createLinear({ rows, cols, weight }));
    const halves = HALF_DTYPES.map((dtype) => {
      const layer = weights.map((weight) => createLinear({ rows, cols, weight, weightsDtype: dtype }));
      // The rounded weights, read back row by row through row(): a float32 layer over them is the reference.
      const roundedWeight = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) layer[0]!.row(r, roundedWeight.subarray(r * cols, (r + 1) * cols));
      return { dtype, layer, rounded: createLinear({ rows, cols, weight: roundedWeight }) };
    });
    const rowsOut = inputs.map((n): HalfWeightsRow => {
      const xs = embeddings(n, cols);
      const out = new Float32Array(n * rows);
      const calls = Math.max(fewest, Math.ceil(multiplyAdds / (rows * cols * n * layers)));
      const apply = (layer: readonly Linear[]) => () => timed(() => { for (let k = 0; k < calls; k++) for (const l of layer) l.applyMany(xs, out); });
      const seconds = interleave(
        [{ id: 'float32', run: apply(single) }, ...halves.map(({ dtype, layer }) => ({ id: dtype, run: apply(layer) }))],
        rounds,
        (id) => progress.tick(`16-bit weights ${rows}×${cols}${layers > 1 ? ` ×${layers}` : ''}, ${n} input${n === 1 ? '' : 's'} · ${id}`),
      );
      const perInput = (id: string) => summarize(seconds.get(id)!.map((s) => (s / calls / n / layers) * 1e6));
      const figures = (dtype: HalfDtype, layer: readonly Linear[], rounded: Linear): HalfWeightsFigures => {
        const mine = layer[0]!.applyMany(xs);
        const theirs = rounded.applyMany(xs);
        return { time: perInput(dtype), ratio: pairedRatios(seconds.get('float32')!, seconds.get(dtype)!), sameBits: mine.every((v, i) => Object.is(v, theirs[i])) };
      };
      const of = (dtype: HalfDtype) => {
        const { layer, rounded } = halves.find((h) => h.dtype === dtype)!;
        return figures(dtype, layer, rounded);
      };
      return { rows, cols, layers, inputs: n, float32: perInput('float32'), halves: { bfloat16: of('bfloat16'), float16: of('float16') } };
    });
    for (const layer of [...single, ...halves.flatMap(({ layer, rounded }) => [...layer, rounded])]) layer.dispose();
    return rowsOut;
  });
}
