import type * as Ort from 'onnxruntime-node';
import { SEED_KEY, SEED_QUERY, SEED_VALUE, headMajor, streamInputs, tokenRow } from '../data.js';
import type { Cell, CellData, DecodeImplementation, StepTimes, StreamTime } from './decode-implementation.js';
import { onnxModel } from './onnx-model.js';

type OrtModule = typeof Ort;

/**
 * `out[H,1,D] = MatMul(Softmax(scale · MatMul(q, Transpose(K))), Transpose(V))` with K, V token-major
 * `[L, H, D]`, L symbolic: the graph an exporter writes for attention without a fused op.
 */
function matMulGraph(heads: number, headDim: number): Uint8Array {
  return onnxModel({
    irVersion: 8,
    opset: 17,
    inputs: [
      { name: 'q', shape: [heads, 1, headDim] },
      { name: 'k', shape: ['L', heads, headDim] },
      { name: 'v', shape: ['L', heads, headDim] },
    ],
    outputs: [{ name: 'out', shape: [heads, 1, headDim] }],
    nodes: [
      { op: 'Constant', inputs: [], outputs: ['scale'], attributes: { value_float: { float: 1 / Math.sqrt(headDim) } } },
      { op: 'Transpose', inputs: ['k'], outputs: ['kt'], attributes: { perm: [1, 2, 0] } },
      { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['scores'] },
      { op: 'Mul', inputs: ['scores', 'scale'], outputs: ['scaled'] },
      { op: 'Softmax', inputs: ['scaled'], outputs: ['weights'], attributes: { axis: 2 } },
      { op: 'Transpose', inputs: ['v'], outputs: ['vt'], attributes: { perm: [1, 0, 2] } },
      { op: 'MatMul', inputs: ['weights', 'vt'], outputs: ['out'] },
    ],
  });
}

/**
 * ONNX's Attention (opset 23) with past_key / past_value `[1, H, P, D]`: it returns the output and
 * the present cache `[1, H, P+1, D]`, which the next step passes back as its past.
 */
function attentionGraph(heads: number, headDim: number): Uint8Array {
  const row = [1, heads, 1, headDim];
  return onnxModel({
    irVersion: 10,
    opset: 23,
    inputs: [
      { name: 'q', shape: row },
      { name: 'k', shape: row },
      { name: 'v', shape: row },
      { name: 'past_key', shape: [1, heads, 'P', headDim] },
      { name: 'past_value', shape: [1, heads, 'P', headDim] },
    ],
    outputs: [
      { name: 'out', shape: row },
      { name: 'present_key', shape: [1, heads, 'T', headDim] },
      { name: 'present_value', shape: [1, heads, 'T', headDim] },
    ],
    nodes: [
      {
        op: 'Attention',
        inputs: ['q', 'k', 'v', '', 'past_key', 'past_value'],
        outputs: ['out', 'present_key', 'present_value'],
        attributes: { scale: { float: 1 / Math.sqrt(headDim) } },
      },
    ],
  });
}

/**
 * Times `count` runs of `session` on `feeds`, `before` each inside the clock (the append, where the
 * implementation does one in JavaScript). A run's result is dropped: for the Attention op that
 * drops the grown present cache, the roll-back.
 */
async function timedRuns(session: Ort.InferenceSession, feeds: Record<string, Ort.Tensor>, count: number, before: () => void): Promise<StepTimes> {
  const times: number[] = [];
  let output: ArrayLike<number> = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    before();
    const result = await session.run(feeds);
    times.push((performance.now() - t0) * 1000);
    output = result.out!.data as Float32Array;
  }
  return { times, output };
}

/** Sessions are built once per (H, D) and kept: building one is not part of a step. */
function sessionCache(ort: OrtModule, graph: (heads: number, headDim: number) => Uint8Array) {
  const sessions = new Map<string, Ort.InferenceSession>();
  return {
    async get(heads: number, headDim: number): Promise<Ort.InferenceSession> {
      const key = `${heads}x${headDim}`;
      let session = sessions.get(key);
      if (session === undefined) {
        session = await ort.InferenceSession.create(graph(heads, headDim));
        sessions.set(key, session);
      }
      return session;
    },
    async close() {
      for (const s of sessions.values()) await s.release();
      sessions.clear();
    },
  };
}

/** onnxruntime-node running {@link matMulGraph} over a token-major cache it shares with the cell. */
export function onnxMatMulImplementation(
  ort: OrtModule,
  cellData: CellData,
): DecodeImplementation {
  const sessions = sessionCache(ort, matMulGraph);
  let session: Ort.InferenceSession | null = null;
  let feeds: Record<string, Ort.Tensor> = {};
  let write = (): void => {};
  return {
    id: 'ort-matmul',
    label: 'onnxruntime-node, MatMul/Softmax graph',
    async setup(cell: Cell) {
      const { heads, headDim, n } = cell;
      const width = heads * headDim;
      session = await sessions.get(heads, headDim);
      const { keys, values } = cellData(cell);
      const k = tokenRow(new Float32Array(width), SEED_KEY, n, width);
      const v = tokenRow(new Float32Array(width), SEED_VALUE, n, width);
      write = () => {
        keys.set(k, n * width);
        values.set(v, n * width);
      };
      feeds = {
        q: new ort.Tensor('float32', tokenRow(new Float32Array(width), SEED_QUERY, n, width), [heads, 1, headDim]),
        k: new ort.Tensor('float32', keys.subarray(0, (n + 1) * width), [n + 1, heads, headDim]),
        v: new ort.Tensor('float32', values.subarray(0, (n + 1) * width), [n + 1, heads, headDim]),
      };
    },
    steps: (count: number) => timedRuns(session!, feeds, count, write),
    async teardown() {
      feeds = {};
      session = null;
    },
    async stream(heads: number, headDim: number, tokens: number): Promise<StreamTime> {
      const width = heads * headDim;
      const s = await sessions.get(heads, headDim);
      const inputs = streamInputs(tokens, width);
      const keys = new Float32Array(tokens * width);
      const values = new Float32Array(tokens * width);
      let output: ArrayLike<number> = [];
      const t0 = performance.now();
      for (let t = 0; t < tokens; t++) {
        const to = (t + 1) * width;
        keys.set(inputs.row(inputs.keys, t), t * width);
        values.set(inputs.row(inputs.values, t), t * width);
        const result = await s.run({
          q: new ort.Tensor('float32', inputs.row(inputs.queries, t), [heads, 1, headDim]),
          k: new ort.Tensor('float32', keys.subarray(0, to), [t + 1, heads, headDim]),
          v: new ort.Tensor('float32', values.subarray(0, to), [t + 1, heads, headDim]),
        });
        output = result.out!.data as Float32Array;
      }
      return { seconds: (performance.now() - t0) / 1000, output };
    },
    close: () => sessions.close(),
  };
}

/** onnxruntime-node running ONNX's Attention op with past keys and values ({@link attentionGraph}). */
export function onnxAttentionImplementation(
  ort: OrtModule,
  cellData: CellData,
): DecodeImplementation {
  const sessions = sessionCache(ort, attentionGraph);
  let session: Ort.InferenceSession | null = null;
  let feeds: Record<string, Ort.Tensor> = {};
  return {
    id: 'ort-attention',
    label: 'onnxruntime-node, Attention op with past key/value',
    async setup(cell: Cell) {
      const { heads, headDim, n } = cell;
      const width = heads * headDim;
      session = await sessions.get(heads, headDim);
      const { keys, values } = cellData(cell);
      const row = [1, heads, 1, headDim];
      feeds = {
        q: new ort.Tensor('float32', tokenRow(new Float32Array(width), SEED_QUERY, n, width), row),
        k: new ort.Tensor('float32', tokenRow(new Float32Array(width), SEED_KEY, n, width), row),
        v: new ort.Tensor('float32', tokenRow(new Float32Array(width), SEED_VALUE, n, width), row),
        past_key: new ort.Tensor('float32', headMajor(keys, n, heads, headDim), [1, heads, n, headDim]),
        past_value: new ort.Tensor('float32', headMajor(values, n, heads, headDim), [1, heads, n, headDim]),
      };
    },
    steps: (count: number) => timedRuns(session!, feeds, count, () => {}),
    async teardown() {
      feeds = {};
      session = null;
    },
    async stream(heads: number, headDim: number, tokens: number): Promise<StreamTime> {
      const s = await sessions.get(heads, headDim);
      const inputs = streamInputs(tokens, heads * headDim);
      const row = [1, heads, 1, headDim];
      let pastKey: Ort.Tensor = new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headDim]);
      let pastValue: Ort.Tensor = new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headDim]);
      let output: ArrayLike<number> = [];
      const t0 = performance.now();
      for (let t = 0; t < tokens; t++) {
        const result = await s.run({
          q: new ort.Tensor('float32', inputs.row(inputs.queries, t), row),
          k: new ort.Tensor('float32', inputs.row(inputs.keys, t), row),
          v: new ort.Tensor('float32', inputs.row(inputs.values, t), row),
          past_key: pastKey,
          past_value: pastValue,
        });
        pastKey = result.present_key!;
        pastValue = result.present_value!;
        output = result.out!.data as Float32Array;
      }
      return { seconds: (performance.now() - t0) / 1000, output };
    },
    close: () => sessions.close(),
  };
}
