import { PagedKVCache } from '../cache/paged-kv-cache.js';
import type { Tensor, TensorInput } from '../cache/safetensors.js';
import { AttentionError } from '../errors.js';
import { oldestAttendable } from './attended-keys.js';
import { resolveOptions } from './options.js';
import type { AttentionOptions, ResolvedOptions } from './options.js';

/** The snapshot layout this version writes, and the only one it reads. */
export const SNAPSHOT_VERSION = '1';

/** Everything an engine is: options, cache and how many outputs it returned. */
export interface EngineState {
  readonly options: ResolvedOptions;
  readonly cache: PagedKVCache;
  readonly emitted: number;
}

/**
 * The tensors and metadata of one engine, every name prefixed by `prefix` (empty for a single
 * engine, `layers.3.` inside a stack):
 *
 * | tensor | dtype | shape |
 * | --- | --- | --- |
 * | `positions` | I32 | [T]: stream positions still held, ascending |
 * | `keys`, `values` | F32 or F64 | [T, kvHeads, headDim] (keys after RoPE in 'absolute' mode) |
 * | `queries` | F32 or F64 | [T, heads·headDim], only with look-ahead |
 * | `weights.wq` … `weights.wo` | F32 or F64 | the projection matrices, row-major |
 *
 * Metadata: `options` (JSON, without weights), `length`, `emitted`.
 */
export function stateTensors(state: EngineState, prefix: string): { tensors: Record<string, TensorInput>; metadata: Record<string, string> } {
  const { options: o, cache, emitted } = state;
  const dtype = o.precision === 'float32' ? 'F32' : 'F64';
  const positions = cache.heldPositions();
  const kvWidth = o.kvHeads * o.headDim;
  const qWidth = o.heads * o.headDim;
  const keys = new o.Float(positions.length * kvWidth);
  const values = new o.Float(positions.length * kvWidth);
  const queries = o.lookahead > 0 ? new o.Float(positions.length * qWidth) : null;
  positions.forEach((p, t) => {
    const block = cache.blockAt(p)!;
    const slot = p % o.blockSize;
    for (let g = 0; g < o.kvHeads; g++) {
      const from = (g * o.blockSize + slot) * o.headDim;
      keys.set(block.keys.subarray(from, from + o.headDim), t * kvWidth + g * o.headDim);
      values.set(block.values.subarray(from, from + o.headDim), t * kvWidth + g * o.headDim);
    }
    if (queries !== null) queries.set(block.queries!.subarray(slot * qWidth, (slot + 1) * qWidth), t * qWidth);
  });
  const T = positions.length;
  const tensors: Record<string, TensorInput> = {
    [`${prefix}positions`]: { dtype: 'I32', shape: [T], data: Int32Array.from(positions) },
    [`${prefix}keys`]: { dtype, shape: [T, o.kvHeads, o.headDim], data: keys },
    [`${prefix}values`]: { dtype, shape: [T, o.kvHeads, o.headDim], data: values },
  };
  if (queries !== null) tensors[`${prefix}queries`] = { dtype, shape: [T, qWidth], data: queries };
  if (o.weights !== null) {
    tensors[`${prefix}weights.wq`] = { dtype, shape: [qWidth, o.dim], data: o.weights.wq };
    tensors[`${prefix}weights.wk`] = { dtype, shape: [kvWidth, o.dim], data: o.weights.wk };
    tensors[`${prefix}weights.wv`] = { dtype, shape: [kvWidth, o.dim], data: o.weights.wv };
    if (o.weights.wo !== null) tensors[`${prefix}weights.wo`] = { dtype, shape: [o.dim, qWidth], data: o.weights.wo };
  }
  return {
    tensors,
    metadata: {
      [`${prefix}options`]: JSON.stringify(plainOptions(o)),
      [`${prefix}length`]: String(cache.length),
      [`${prefix}emitted`]: String(emitted),
    },
  };
}

/**
 * Rebuilds an engine's state from {@link stateTensors}' output, checking every shape, position and
 * number against the options. `expected`, when given, must agree with the stored options.
 *
 * @throws AttentionError CORRUPT_SNAPSHOT naming what disagrees; INVALID_OPTION when `expected`
 *   disagrees with the snapshot.
 */
export function restoreState(
  tensors: ReadonlyMap<string, Tensor>,
  metadata: Readonly<Record<string, string>>,
  prefix: string,
  expected?: AttentionOptions,
): EngineState {
  const where = prefix === '' ? '' : ` (${prefix.slice(0, -1)})`;
  const fail = (message: string): never => {
    throw new AttentionError('CORRUPT_SNAPSHOT', `snapshot${where}: ${message}`, { field: 'snapshot' });
  };
  let stored: unknown;
  try {
    stored = JSON.parse(metadata[`${prefix}options`] ?? 'null');
  } catch {
    fail('options metadata is not valid JSON');
  }
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) fail('options metadata is missing');
  const weightNames = ['wq', 'wk', 'wv', 'wo'] as const;
  const weights: Record<string, Tensor['data']> = {};
  for (const name of weightNames) {
    const t = tensors.get(`${prefix}weights.${name}`);
    if (t !== undefined) weights[name] = t.data;
  }
  let o: ResolvedOptions;
  try {
    const options = { ...(stored as AttentionOptions), ...(Object.keys(weights).length > 0 ? { weights: weights as never } : {}) };
    o = resolveOptions(options);
  } catch (e) {
    return fail(`stored options are invalid: ${(e as Error).message}`);
  }
  if (expected !== undefined) assertAgrees(o, resolveOptions(expected));
  const dtype = o.precision === 'float32' ? 'F32' : 'F64';
  for (const [name, t] of Object.entries(weights)) if (tensors.get(`${prefix}weights.${name}`)!.dtype !== dtype) fail(`weights.${name} is not ${dtype}`);
  for (const name of weightNames) {
    if (name === 'wo' ? o.weights === null && weights[name] !== undefined : (o.weights === null) !== (weights[name] === undefined)) {
      fail(`weights.${name} does not fit the stored options`);
    }
  }
  const length = integerField(metadata[`${prefix}length`], 'length', fail);
  const emitted = integerField(metadata[`${prefix}emitted`], 'emitted', fail);
  if (emitted > length) fail(`emitted ${emitted} exceeds length ${length}`);
  const positionsTensor = tensors.get(`${prefix}positions`) ?? fail('tensor positions is missing');
  if (positionsTensor.dtype !== 'I32' || positionsTensor.shape.length !== 1) fail('positions must be I32 of shape [T]');
  const positions = positionsTensor.data;
  const T = positions.length;
  const kvWidth = o.kvHeads * o.headDim;
  const qWidth = o.heads * o.headDim;
  const keys = floatTensor(tensors, `${prefix}keys`, dtype, [T, o.kvHeads, o.headDim], fail);
  const values = floatTensor(tensors, `${prefix}values`, dtype, [T, o.kvHeads, o.headDim], fail);
  const queries = o.lookahead > 0 ? floatTensor(tensors, `${prefix}queries`, dtype, [T, qWidth], fail) : null;
  if (o.lookahead === 0 && tensors.has(`${prefix}queries`)) fail('queries are stored but the options have no look-ahead');
  for (let t = 0; t < T; t++) {
    const p = positions[t]!;
    if (p < 0 || p >= length || (t > 0 && p <= positions[t - 1]!)) fail(`positions must ascend within [0, ${length}), got ${p} at ${t}`);
  }
  // Every key a future query can attend must be there: the sinks and the window's reach.
  const held = new Set(positions);
  const oldest = oldestAttendable(o, emitted);
  for (let p = 0; p < Math.min(o.sinks, length); p++) if (!held.has(p)) fail(`sink position ${p} is missing`);
  for (let p = oldest; p < length; p++) if (!held.has(p)) fail(`position ${p} is needed but missing`);
  const cache = new PagedKVCache({ kvHeads: o.kvHeads, headDim: o.headDim, queryWidth: queries === null ? 0 : qWidth, blockSize: o.blockSize, Float: o.Float });
  for (let t = 0; t < T; t++) {
    cache.skipTo(positions[t]!);
    cache.append(keys.subarray(t * kvWidth, (t + 1) * kvWidth), values.subarray(t * kvWidth, (t + 1) * kvWidth), queries === null ? null : queries.subarray(t * qWidth, (t + 1) * qWidth));
  }
  cache.skipTo(length);
  return { options: o, cache, emitted };
}

/** The options as JSON can carry them: no weights, no derived tables, no defaults that resolveOptions refuses to see. */
function plainOptions(o: ResolvedOptions): AttentionOptions {
  return {
    dim: o.dim,
    heads: o.heads,
    kvHeads: o.kvHeads,
    headDim: o.headDim,
    scale: o.scale,
    precision: o.precision,
    withWeights: o.withWeights,
    positions: o.positions,
    ...(o.positions === 'rope' ? { ropeBase: o.ropeBase, ropePositions: o.ropePositions } : {}),
    ...(o.window === Infinity ? {} : { window: o.window, sinks: o.sinks }),
    lookahead: o.lookahead,
    blockSize: o.blockSize,
  };
}

const STRUCTURAL = ['dim', 'heads', 'kvHeads', 'headDim', 'scale', 'precision', 'positions', 'ropeBase', 'ropePositions', 'window', 'sinks', 'lookahead', 'blockSize'] as const;

function assertAgrees(stored: ResolvedOptions, expected: ResolvedOptions): void {
  for (const key of STRUCTURAL) {
    if (stored[key] !== expected[key]) {
      throw new AttentionError('INVALID_OPTION', `option ${key} is ${String(expected[key])} but the snapshot was taken with ${String(stored[key])}`, { field: key });
    }
  }
}

function integerField(value: string | undefined, name: string, fail: (m: string) => never): number {
  const n = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || !Number.isSafeInteger(n)) fail(`${name} metadata must be a non-negative integer, got ${String(value)}`);
  return n;
}

function floatTensor(
  tensors: ReadonlyMap<string, Tensor>,
  name: string,
  dtype: 'F32' | 'F64',
  shape: number[],
  fail: (m: string) => never,
): Float32Array | Float64Array {
  const t = tensors.get(name) ?? fail(`tensor ${name} is missing`);
  if (t.dtype !== dtype) fail(`tensor ${name} is ${t.dtype}, expected ${dtype}`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) fail(`tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  const data = t.data as Float32Array | Float64Array;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) fail(`tensor ${name} holds a non-finite number at element ${i}`);
  return data;
}
