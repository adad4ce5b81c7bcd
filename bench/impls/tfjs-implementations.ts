import type * as Tf from '@tensorflow/tfjs-core';
import { SEED_KEY, SEED_QUERY, SEED_VALUE, headMajor, streamInputs, tokenRow } from '../data.js';
import type { Cell, CellData, DecodeImplementation, StepTimes, StreamTime } from './decode-implementation.js';

type TfModule = typeof Tf;

/**
 * One step as tfjs code writes it: the cache tensors are immutable, so appending is a concat (a
 * copy of the cache), then `softmax(scale · q Kᵀ) V` with two batched matMuls over the H heads.
 * Returns the grown cache and the output `[H, 1, D]`; the caller disposes what it drops.
 */
function tfStep(tf: TfModule, keys: Tf.Tensor3D, values: Tf.Tensor3D, q: Tf.Tensor3D, k: Tf.Tensor3D, v: Tf.Tensor3D, scale: number) {
  return tf.tidy(() => {
    const grownKeys = tf.concat([keys, k], 1);
    const grownValues = tf.concat([values, v], 1);
    const weights = tf.softmax(tf.mul(tf.matMul(q, grownKeys, false, true), scale));
    return { keys: grownKeys, values: grownValues, output: tf.matMul(weights, grownValues) };
  });
}

/**
 * @tensorflow/tfjs-core on `backend` ('cpu': its plain-JavaScript kernels; 'wasm': its WebAssembly
 * kernels). Both backends live in one process, so every call first makes its own backend current;
 * each implementation's tensors are only ever touched while its backend is.
 */
export function tfjsImplementation(
  tf: TfModule,
  backend: 'cpu' | 'wasm',
  label: string,
  cellData: CellData,
): DecodeImplementation {
  let held: Tf.Tensor[] = [];
  let state: { keys: Tf.Tensor3D; values: Tf.Tensor3D; q: Tf.Tensor3D; k: Tf.Tensor3D; v: Tf.Tensor3D; scale: number } | null = null;
  const use = async (): Promise<void> => {
    if (tf.getBackend() !== backend && !(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} did not start`);
  };
  const release = (): void => {
    for (const t of held) t.dispose();
    held = [];
    state = null;
  };
  return {
    id: `tfjs-${backend}`,
    label,
    async setup(cell: Cell) {
      await use();
      const { heads, headDim, n } = cell;
      const width = heads * headDim;
      const { keys, values } = cellData(cell);
      const row = (seed: number) => tf.tensor3d(tokenRow(new Float32Array(width), seed, n, width), [heads, 1, headDim]);
      state = {
        keys: tf.tensor3d(headMajor(keys, n, heads, headDim), [heads, n, headDim]),
        values: tf.tensor3d(headMajor(values, n, heads, headDim), [heads, n, headDim]),
        q: row(SEED_QUERY),
        k: row(SEED_KEY),
        v: row(SEED_VALUE),
        scale: 1 / Math.sqrt(headDim),
      };
      held = [state.keys, state.values, state.q, state.k, state.v];
    },
    async steps(count: number): Promise<StepTimes> {
      await use();
      const s = state!;
      const times: number[] = [];
      let output: ArrayLike<number> = [];
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        const step = tfStep(tf, s.keys, s.values, s.q, s.k, s.v, s.scale);
        output = step.output.dataSync();
        times.push((performance.now() - t0) * 1000);
        // The grown cache is dropped: the roll-back.
        step.keys.dispose();
        step.values.dispose();
        step.output.dispose();
      }
      return { times, output };
    },
    async teardown() {
      await use();
      release();
    },
    async stream(heads: number, headDim: number, tokens: number): Promise<StreamTime> {
      await use();
      const inputs = streamInputs(tokens, heads * headDim);
      const rowAt = (rows: Float32Array, t: number) => tf.tensor3d(inputs.row(rows, t), [heads, 1, headDim]);
      let keys = tf.tensor3d(new Float32Array(0), [heads, 0, headDim]);
      let values = tf.tensor3d(new Float32Array(0), [heads, 0, headDim]);
      let output: ArrayLike<number> = [];
      const t0 = performance.now();
      for (let t = 0; t < tokens; t++) {
        const q = rowAt(inputs.queries, t);
        const k = rowAt(inputs.keys, t);
        const v = rowAt(inputs.values, t);
        const step = tfStep(tf, keys, values, q, k, v, 1 / Math.sqrt(headDim));
        output = step.output.dataSync();
        for (const x of [keys, values, q, k, v, step.output]) x.dispose();
        keys = step.keys;
        values = step.values;
      }
      const seconds = (performance.now() - t0) / 1000;
      keys.dispose();
      values.dispose();
      return { seconds, output };
    },
    async close() {
      if (held.length > 0) {
        await use();
        release();
      }
    },
  };
}
