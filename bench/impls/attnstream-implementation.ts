import { createAttention } from '../../src/index.js';
import type { Attention, AttentionOptions, ThreadPool } from '../../src/index.js';
import { SEED_KEY, SEED_QUERY, SEED_VALUE, streamInputs, tokenRow } from '../data.js';
import type { Cell, CellData, DecodeImplementation, StepTimes, StreamTime } from './decode-implementation.js';
import { restoredEngine } from './restored-engine.js';

/** The options of the engine under test for H heads of D: q, k, v handed over by pushQKV. */
export function engineOptions(heads: number, headDim: number, kernels: 'auto' | 'js' = 'auto', threads: ThreadPool | null = null): AttentionOptions {
  return { dim: heads * headDim, heads, headDim, scale: 1 / Math.sqrt(headDim), kernels, ...(threads === null ? {} : { threads }) };
}

/**
 * attnstream's engine, fed by pushQKV so projections stay outside the clock, as in model code that
 * projects by itself. Float32 cache (the default). `kernels` 'auto' (the default, id `attnstream`):
 * WebAssembly SIMD where the runtime has it, the TypeScript loops otherwise; 'js' (id
 * `attnstream-js`): the TypeScript loops always — the fallback the issue wants at ≥ 1/20 of C.
 * With a `threads` pool (id `attnstream-<n>t`), each step's heads are split across its threads.
 */
export function attnstreamImplementation(cellData: CellData, kernels: 'auto' | 'js' = 'auto', threads: ThreadPool | null = null): DecodeImplementation {
  let engine: Attention | null = null;
  let n = 0;
  let q: Float32Array = new Float32Array(0);
  let k: Float32Array = new Float32Array(0);
  let v: Float32Array = new Float32Array(0);
  return {
    id: threads !== null ? `attnstream-${threads.threads}t` : kernels === 'auto' ? 'attnstream' : 'attnstream-js',
    label:
      threads !== null
        ? `attnstream engine with \`threads\`: a pool of ${threads.threads} (the caller and ${threads.threads - 1} worker_threads) splitting each step's heads, pushQKV`
        : kernels === 'auto'
          ? "attnstream engine (default kernels 'auto': WebAssembly SIMD for its float32 cache, pushQKV)"
          : "attnstream engine with `kernels: 'js'` (the pure-TypeScript fallback, pushQKV)",
    async setup(cell: Cell) {
      const width = cell.heads * cell.headDim;
      const { keys, values } = cellData(cell);
      engine = restoredEngine(engineOptions(cell.heads, cell.headDim, kernels, threads), keys, values, cell.n);
      n = cell.n;
      q = tokenRow(new Float32Array(width), SEED_QUERY, n, width);
      k = tokenRow(new Float32Array(width), SEED_KEY, n, width);
      v = tokenRow(new Float32Array(width), SEED_VALUE, n, width);
    },
    async steps(count: number): Promise<StepTimes> {
      const e = engine!;
      const times: number[] = [];
      let output: ArrayLike<number> = [];
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        const [step] = e.pushQKV(q, k, v);
        const t1 = performance.now();
        e.truncate(n);
        times.push((t1 - t0) * 1000);
        output = step!.output;
      }
      return { times, output };
    },
    async teardown() {
      engine?.dispose();
      engine = null;
    },
    async stream(heads: number, headDim: number, tokens: number): Promise<StreamTime> {
      const inputs = streamInputs(tokens, heads * headDim);
      const { row } = inputs;
      const stream = createAttention(engineOptions(heads, headDim, kernels, threads));
      let output: ArrayLike<number> = [];
      const t0 = performance.now();
      for (let t = 0; t < tokens; t++) {
        output = stream.pushQKV(row(inputs.queries, t), row(inputs.keys, t), row(inputs.values, t))[0]!.output;
      }
      const seconds = (performance.now() - t0) / 1000;
      stream.dispose();
      return { seconds, output };
    },
    async close() {
      engine?.dispose();
    },
  };
}
