import { PagedKVCache } from '../cache/paged-kv-cache.js';
import type { TensorInput } from '../cache/safetensors.js';
import { readValueRow } from '../cache/value-layout.js';
import { AttentionError, cutText, describeValue, quoted } from '../errors.js';
import { weightsDigest, weightsFingerprint } from './weights-fingerprint.js';
import { WEIGHT_NAMES } from './options.js';
import type { AttentionOptions, ResolvedOptions } from './options.js';

/**
 * The layouts this version reads: version 1, which differs only in keys under RoPE 'cache'
 * positions (cached unrotated then); version 2; and version 3, which is 2 plus what a version-2
 * reader would misread: projection biases, RoPE's variants, weights left out, an engine whose caller
 * projects (no wq, wk, wv), a score cap; version 4, which is 3 plus learned sink logits (a
 * version-3 reader would drop them and restore another function); and version 5, which is 4 plus
 * the floor scales of int8 blocks a truncate made float again (an older version-4 reader would
 * drop them); version 6, which is 5 plus `weightsDtype: 'bfloat16'` (a version-5 reader would
 * call the option unknown and the file corrupt); version 7, which is 6 plus `weightsDtype:
 * 'float16'` (a version-6 reader would call that value invalid and the file corrupt). A file is
 * written at the lowest version that holds it (see docs/snapshots.md).
 */
export const READABLE_SNAPSHOT_VERSIONS: readonly string[] = ['1', '2', '3', '4', '5', '6', '7', '8'];

/** The `format` of a snapshot: of one engine, of a stack, of a cross-attention. */
export const ATTENTION_FORMAT = 'attnstream.attention';
export const STACK_FORMAT = 'attnstream.stack';
export const CROSS_ATTENTION_FORMAT = 'attnstream.cross-attention';

/**
 * What {@link Attention.snapshot} writes: `weights: false` leaves the projection weights out (they
 * are the model's, not the session's; a restore is then given them). Default true. `metadata`:
 * strings of the application's own, kept in the file (under keys `user.<key>`, covered by its
 * checksum) and read back by {@link snapshotMetadata}: what resuming needs beside the engine, such
 * as the text so far or the token to feed next. Restore ignores them.
 *
 * @example
 * ```ts
 * import { createAttention, restoreAttention, snapshotMetadata } from 'attnstream';
 * const w = [1, 0, 0, 1];
 * const options = { dim: 2, weights: { wq: w, wk: w, wv: w } };
 * const attn = createAttention(options);
 * attn.push([1, 2]);
 * const state = attn.snapshot({ weights: false, metadata: { next: '17' } }); // keys, values and position only
 * console.log(restoreAttention(state, options).length, snapshotMetadata(state)); // 1 { next: '17' }
 * ```
 */
export interface SnapshotOptions {
  /** Include the weights. Default true. */
  readonly weights?: boolean | undefined;
  /** The application's strings, at most 1 MiB in all (as UTF-8 JSON). Default none. */
  readonly metadata?: Readonly<Record<string, string>> | undefined;
}

/** The most bytes of the application's metadata a snapshot holds: well inside the 16 MiB a header may have. */
const MAX_USER_METADATA = 2 ** 20;

/** Where the application's metadata goes in a file's `__metadata__`. */
export const USER_METADATA_PREFIX = 'user.';

/**
 * `options` checked: `weights` a boolean or absent; `metadata` an object of strings within
 * {@link MAX_USER_METADATA}, returned under their file keys.
 */
export function snapshotChoices(options: SnapshotOptions): { withWeights: boolean; metadata: Record<string, string> } {
  if (options === null || typeof options !== 'object') throw new AttentionError('INVALID_ARGUMENT', 'snapshot: options must be an object { weights?, metadata? }', { field: 'options' });
  for (const key of Object.keys(options)) {
    if (key !== 'weights' && key !== 'metadata') throw new AttentionError('INVALID_ARGUMENT', `snapshot: ${quoted(key)} is not an option (known: weights, metadata)`, { field: cutText(key) });
  }
  const weights = options.weights ?? true;
  if (typeof weights !== 'boolean') throw new AttentionError('INVALID_ARGUMENT', `snapshot: weights must be a boolean, got ${describeValue(weights)}`, { field: 'weights' });
  const given: unknown = options.metadata === undefined ? {} : options.metadata;
  // A plain object (of any realm: its prototype's prototype is null): a Map, or any other class's
  // instance, would be written as {} without a word.
  const prototype: unknown = given === null || typeof given !== 'object' ? undefined : Object.getPrototypeOf(given);
  if (prototype === undefined || (prototype !== null && Object.getPrototypeOf(prototype) !== null)) {
    throw new AttentionError('INVALID_ARGUMENT', `snapshot: metadata must be an object of strings, got ${describeValue(given)}`, { field: 'metadata' });
  }
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(given as object)) {
    if (typeof value !== 'string') throw new AttentionError('INVALID_ARGUMENT', `snapshot: metadata ${quoted(key)} must be a string, got ${describeValue(value)}`, { field: 'metadata' });
    metadata[`${USER_METADATA_PREFIX}${key}`] = value;
  }
  const bytes = utf8Length(JSON.stringify(metadata));
  if (bytes > MAX_USER_METADATA) {
    throw new AttentionError('INVALID_ARGUMENT', `snapshot: metadata takes ${bytes} bytes, past the ${MAX_USER_METADATA} a snapshot holds; keep large data beside the file`, { field: 'metadata', expected: MAX_USER_METADATA, actual: bytes });
  }
  return { withWeights: weights, metadata };
}

/** Bytes of `text` in UTF-8 (the encoded header's), without encoding it. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? (i++, 4) : 3;
  }
  return bytes;
}

/**
 * The version a file holding engines of these options (weights saved or not) and these tensors is
 * written at.
 */
export function snapshotVersion(options: readonly ResolvedOptions[], withWeights: boolean, tensors: Readonly<Record<string, TensorInput>>): string {
  const needsThree = options.some(
    (o) =>
      (o.weights !== null && (!withWeights || !o.projectsInputs || o.weights.bq !== null || o.weights.bk !== null || o.weights.bv !== null || o.weights.bo !== null)) ||
      (o.positions === 'rope' && (o.ropeDim !== o.headDim || o.ropeStyle !== 'half' || o.ropeFrequencies !== null)) ||
      o.scoreCap !== null,
  );
  // An engine's tensor, or any layer's of a stack (`layers.i.` before it).
  const holds = (name: string): boolean => Object.keys(tensors).some((held) => held === name || held.endsWith(`.${name}`));
  // A version-7 reader refuses retain without a window, and the float keys as an unknown tensor.
  if (options.some((o) => o.retain > 0 && o.window === Infinity) || holds('exact_keys')) return '8';
  if (options.some((o) => o.weightsDtype === 'float16')) return '7';
  if (options.some((o) => o.weightsDtype === 'bfloat16')) return '6';
  // A version-4 reader from before unknown tensors were refused would drop an int8 block's floor
  // scales and round the block's kept keys anew.
  if (holds('key_floors')) return '5';
  if (options.some((o) => o.sinkLogits !== null)) return '4';
  return needsThree ? '3' : '2';
}

/** What an engine's state may hold, each name after its prefix (see {@link stateTensors}). */
const STATE_TENSORS: ReadonlySet<string> = new Set([
  'positions', 'keys', 'values', 'key_blocks', 'keys_int8', 'key_scales', 'key_floor_blocks', 'key_floors', 'exact_key_blocks', 'exact_keys', 'values_int8', 'value_scales', 'queries',
  ...WEIGHT_NAMES.map((name) => `weights.${name}`),
]);

/**
 * Refuses a tensor name that no engine's state holds: one engine's names, or with `layers`, a stack's
 * (`layers.i.` before each, i below `layers`). Ignored, it would be data the file's writer meant
 * something by; and a bit flipped in the name of the file's checksum would leave it unchecked.
 *
 * @throws AttentionError CORRUPT_SNAPSHOT naming the tensor.
 */
export function assertKnownTensors(names: Iterable<string>, layers: number | null): void {
  for (const name of names) {
    const layer = layers === null ? null : /^layers\.(0|[1-9][0-9]*)\.(.*)$/s.exec(name);
    const known = layers === null ? STATE_TENSORS.has(name) : layer !== null && Number(layer[1]) < layers && STATE_TENSORS.has(layer[2]!);
    if (!known) throw new AttentionError('CORRUPT_SNAPSHOT', `snapshot: tensor ${quoted(name)} is not one a snapshot holds`, { field: 'snapshot' });
  }
}

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
 * | `keys`, `values` | F32 or F64 | [T, kvHeads, headDim] (keys after RoPE, rotated by their position) |
 * | int8 caches: `key_blocks` | I32 | [Q]: blocks whose keys are quantized; `keys` then holds only the other positions |
 * | `keys_int8`, `key_scales` | I8, F32 | [Q, kvHeads, blockSize, headDim], [Q, kvHeads, headDim] |
 * | `key_floor_blocks`, `key_floors` | I32, F32 | [R], [R, kvHeads, headDim]: float-key blocks truncated into, and the scales their keys were quantized on (written only when R > 0) |
 * | `exact_key_blocks`, `exact_keys` | I32, F32 or F64 | [E], [E, kvHeads, blockSize, headDim]: quantized blocks a truncate within retain + lookahead may write into, and the float keys they were quantized from (written only when E > 0) |
 * | `values_int8`, `value_scales` | I8, F32 | [T, kvHeads, headDim], [T, kvHeads] (instead of `values`) |
 * | `queries` | F32 or F64 | [T, heads·headDim], only with look-ahead |
 * | `weights.wq` … `weights.wo` | F32 or F64 | the projection matrices, row-major |
 * | `weights.bq` … `weights.bo` | F32 or F64 | the biases given, [width] |
 *
 * Metadata: `options` (JSON, without weights), `length`, `emitted`; `weights: "external"` when the
 * weights were left out (`withWeights` false), so that a restore must be given them, with
 * `weights_fingerprint` and `weights_digest` to tell them from another model's; `weights: "none"` when the engine holds
 * weights without a matrix (its caller projects, no wo), which the tensors alone would read as
 * seed mode.
 */
export function stateTensors(
  state: EngineState,
  prefix: string,
  withWeights = true,
): { tensors: Record<string, TensorInput>; metadata: Record<string, string> } {
  const { options: o, cache, emitted } = state;
  const dtype = o.precision === 'float32' ? 'F32' : 'F64';
  const { kvHeads, headDim, blockSize } = o;
  const positions = cache.heldPositions();
  const T = positions.length;
  const kvWidth = kvHeads * headDim;
  const qWidth = o.heads * headDim;
  const int8 = o.cacheDtype === 'int8';
  // int8 keys live per block (their scales are per channel over the block); every other row is per position.
  const int8Blocks = int8 ? [...new Set(positions.map((p) => Math.floor(p / blockSize)))] : [];
  const keyBlocks = int8Blocks.filter((b) => cache.blockAt(b * blockSize)!.keys === null);
  const quantizedBlocks = new Set(keyBlocks);
  const floatKeyPositions = positions.filter((p) => !quantizedBlocks.has(Math.floor(p / blockSize)));
  const keys = new o.Float(floatKeyPositions.length * kvWidth);
  const values = int8 ? null : new o.Float(T * kvWidth);
  const valuesInt8 = int8 ? new Int8Array(T * kvWidth) : null;
  const valueScales = int8 ? new Float32Array(T * kvHeads) : null;
  const queries = o.lookahead > 0 ? new o.Float(T * qWidth) : null;
  let f = 0;
  positions.forEach((p, t) => {
    const block = cache.blockAt(p)!;
    const slot = p % blockSize;
    for (let g = 0; g < kvHeads; g++) {
      const from = (g * blockSize + slot) * headDim;
      if (block.keys !== null) keys.set(block.keys.subarray(from, from + headDim), f * kvWidth + g * headDim);
      if (values !== null) readValueRow(block.values!, g * blockSize * headDim, blockSize, headDim, slot, values, t * kvWidth + g * headDim);
      else {
        valuesInt8!.set(block.valuesInt8!.subarray(from, from + headDim), t * kvWidth + g * headDim);
        valueScales![t * kvHeads + g] = block.valueScales![g * blockSize + slot]!;
      }
    }
    if (block.keys !== null) f++;
    if (queries !== null) queries.set(block.queries!.subarray(slot * qWidth, (slot + 1) * qWidth), t * qWidth);
  });
  const tensors: Record<string, TensorInput> = {
    [`${prefix}positions`]: { dtype: 'I32', shape: [T], data: Int32Array.from(positions) },
    [`${prefix}keys`]: { dtype, shape: [floatKeyPositions.length, kvHeads, headDim], data: keys },
  };
  if (values !== null) tensors[`${prefix}values`] = { dtype, shape: [T, kvHeads, headDim], data: values };
  else {
    const Q = keyBlocks.length;
    const keysInt8 = new Int8Array(Q * kvHeads * blockSize * headDim);
    const keyScales = new Float32Array(Q * kvWidth);
    keyBlocks.forEach((b, q) => {
      const block = cache.blockAt(b * blockSize)!;
      keysInt8.set(block.keysInt8!, q * kvHeads * blockSize * headDim);
      keyScales.set(block.keyScales!, q * kvWidth);
    });
    tensors[`${prefix}key_blocks`] = { dtype: 'I32', shape: [Q], data: Int32Array.from(keyBlocks) };
    tensors[`${prefix}keys_int8`] = { dtype: 'I8', shape: [Q, kvHeads, blockSize, headDim], data: keysInt8 };
    tensors[`${prefix}key_scales`] = { dtype: 'F32', shape: [Q, kvHeads, headDim], data: keyScales };
    tensors[`${prefix}values_int8`] = { dtype: 'I8', shape: [T, kvHeads, headDim], data: valuesInt8! };
    tensors[`${prefix}value_scales`] = { dtype: 'F32', shape: [T, kvHeads], data: valueScales! };
    const floorBlocks = int8Blocks.filter((b) => cache.blockAt(b * blockSize)!.keyFloor !== null);
    if (floorBlocks.length > 0) {
      const floors = new Float32Array(floorBlocks.length * kvWidth);
      floorBlocks.forEach((b, r) => floors.set(cache.blockAt(b * blockSize)!.keyFloor!, r * kvWidth));
      tensors[`${prefix}key_floor_blocks`] = { dtype: 'I32', shape: [floorBlocks.length], data: Int32Array.from(floorBlocks) };
      tensors[`${prefix}key_floors`] = { dtype: 'F32', shape: [floorBlocks.length, kvHeads, headDim], data: floors };
    }
    const exactBlocks = keyBlocks.filter((b) => cache.exactKeysOf(b) !== undefined);
    if (exactBlocks.length > 0) {
      const blockWidth = kvHeads * blockSize * headDim;
      const exact = new o.Float(exactBlocks.length * blockWidth);
      exactBlocks.forEach((b, e) => exact.set(cache.exactKeysOf(b)!, e * blockWidth));
      tensors[`${prefix}exact_key_blocks`] = { dtype: 'I32', shape: [exactBlocks.length], data: Int32Array.from(exactBlocks) };
      tensors[`${prefix}exact_keys`] = { dtype, shape: [exactBlocks.length, kvHeads, blockSize, headDim], data: exact };
    }
  }
  if (queries !== null) tensors[`${prefix}queries`] = { dtype, shape: [T, qWidth], data: queries };
  if (o.weights !== null && withWeights) {
    const shapes = weightShapes(o);
    for (const name of WEIGHT_NAMES) {
      // Read once: an engine on the kernels copies each matrix out of their memory per read.
      const data = o.weights[name];
      if (data !== null) tensors[`${prefix}weights.${name}`] = { dtype, shape: shapes[name], data };
    }
  }
  return {
    tensors,
    metadata: {
      [`${prefix}options`]: JSON.stringify(plainOptions(o)),
      [`${prefix}length`]: String(cache.length),
      [`${prefix}emitted`]: String(emitted),
      ...(o.weights === null
        ? {}
        : !withWeights
          ? { [`${prefix}weights`]: 'external', [`${prefix}weights_fingerprint`]: weightsFingerprint(o), [`${prefix}weights_digest`]: weightsDigest(o) }
          : !o.projectsInputs && !o.projectsOutput
            ? { [`${prefix}weights`]: 'none' }
            : {}),
    },
  };
}

/** The shape of each weight tensor a snapshot holds: torch.nn.Linear's (out, in), biases (out). */
export function weightShapes(o: ResolvedOptions): Record<(typeof WEIGHT_NAMES)[number], number[]> {
  const qWidth = o.heads * o.headDim;
  const kvWidth = o.kvHeads * o.headDim;
  return { wq: [qWidth, o.dim], wk: [kvWidth, o.dim], wv: [kvWidth, o.dim], wo: [o.dim, qWidth], bq: [qWidth], bk: [kvWidth], bv: [kvWidth], bo: [o.dim] };
}

/** The options as JSON can carry them: no weights, no derived tables, no defaults that resolveOptions refuses to see. */
export function plainOptions(o: ResolvedOptions): AttentionOptions {
  return {
    dim: o.dim,
    heads: o.heads,
    kvHeads: o.kvHeads,
    headDim: o.headDim,
    scale: o.scale,
    ...(o.scoreCap === null ? {} : { scoreCap: o.scoreCap }),
    ...(o.sinkLogits === null ? {} : { sinkLogits: Array.from(o.sinkLogits) }),
    precision: o.precision,
    // Written only when not the default, so a file without it stays at its version.
    ...(o.weightsDtype === 'bfloat16' || o.weightsDtype === 'float16' ? { weightsDtype: o.weightsDtype } : {}),
    withWeights: o.withWeights,
    positions: o.positions,
    ...(o.positions === 'rope' ? (o.ropeFrequencies === null ? { ropeBase: o.ropeBase } : { ropeFrequencies: Array.from(o.ropeFrequencies) }) : {}),
    ...(o.positions === 'rope' ? { ropePositions: o.ropePositions } : {}),
    // Written only when not the default, so a file without them stays a version-2 file.
    ...(o.positions === 'rope' && o.ropeDim !== o.headDim ? { ropeDim: o.ropeDim } : {}),
    ...(o.positions === 'rope' && o.ropeStyle !== 'half' ? { ropeStyle: o.ropeStyle } : {}),
    ...(o.window === Infinity ? (o.retain > 0 ? { retain: o.retain } : {}) : { window: o.window, sinks: o.sinks, retain: o.retain }),
    lookahead: o.lookahead,
    blockSize: o.blockSize,
    cacheDtype: o.cacheDtype,
  };
}
