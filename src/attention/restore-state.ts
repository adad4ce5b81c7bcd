import type { KVBlock } from '../cache/kv-block.js';
import type { Tensor } from '../cache/safetensors.js';
import { writeValueRow } from '../cache/value-layout.js';
import { AttentionError, quoted, shownText } from '../errors.js';
import { ropeRotate } from '../kernels/rope.js';
import { beyondInt8Range, isInt8Scale, quantizeColumnsInt8 } from '../kernels/quantize-int8.js';
import { oldestAttendable } from './attended-keys.js';
import { weightsDigest, weightsFingerprint } from './weights-fingerprint.js';
import { newCache } from './new-cache.js';
import { resolveOptions, RUN_OPTIONS, WEIGHT_NAMES } from './options.js';
import { MAX_STREAM_LENGTH } from './step.js';
import type { AttentionOptions, AttentionWeights, ResolvedOptions, RunOptions } from './options.js';
import { plainOptions, weightShapes } from './snapshot-state.js';
import type { EngineState } from './snapshot-state.js';

/**
 * Rebuilds an engine's state from {@link stateTensors}' output, checking every shape, position and
 * number against the options. `expected`, when given, must agree with the stored options. A
 * version-1 file's unrotated RoPE 'cache' keys are rotated by their positions, as appending them
 * would have.
 *
 * @throws AttentionError CORRUPT_SNAPSHOT naming what disagrees; INVALID_OPTION when `expected`
 *   disagrees with the snapshot; UNSUPPORTED_SNAPSHOT for a version-1 RoPE 'cache' file with
 *   quantized keys (quantized unrotated, they cannot be rotated exactly).
 */
export function restoreState(
  tensors: ReadonlyMap<string, Tensor>,
  metadata: Readonly<Record<string, string>>,
  prefix: string,
  expected?: AttentionOptions | RunOptions,
  model: ResolvedOptions | null = null,
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
  const unstored = NEVER_STORED.find((key) => Object.hasOwn(stored as object, key));
  if (unstored !== undefined) fail(`stored options hold ${unstored}, which a snapshot never stores (${unstored === 'weights' ? 'weights are tensors' : 'how an engine runs is the restorer\'s choice'})`);
  const weights: Record<string, Tensor['data']> = {};
  for (const name of WEIGHT_NAMES) {
    const t = tensors.get(`${prefix}weights.${name}`);
    if (t !== undefined) weights[name] = t.data;
  }
  // The caller's options are checked first, as createAttention would: their mistakes are INVALID_OPTION, not the file's.
  // Options with dim are the engine's, checked against the file; without, only run choices. What
  // is not an object at all goes to resolveOptions, which names it.
  const wholeOptions = expected !== undefined && (expected === null || typeof expected !== 'object' || 'dim' in expected);
  const guard = wholeOptions ? resolveOptions(expected as AttentionOptions) : null;
  const choices = expected === undefined ? {} : runChoices(expected, guard === null);
  const marked = metadata[`${prefix}weights`];
  if (marked !== undefined && marked !== 'external' && marked !== 'none') fail(`weights metadata must be "external" or "none" when present, got ${quoted(marked)}`);
  if (marked !== undefined && Object.keys(weights).length > 0) fail(`weights metadata says "${marked}" but the file holds weight tensors`);
  const external = marked === 'external' ? marked : undefined;
  // The file's options on their own, before they meet anything of the caller's: invalid, they are
  // the file's fault whatever the caller gives. Saved without the weights, they are checked as
  // those of an engine whose caller projects (the weights come from the caller, checked below);
  // "none" is weights without a matrix (the caller projects, no wo), which no tensor shows.
  const holdsWeights = Object.keys(weights).length > 0 || marked === 'none';
  let own: ResolvedOptions;
  try {
    own = resolveOptions({ ...(stored as AttentionOptions), ...(external !== undefined ? { weights: {} } : holdsWeights ? { weights: weights as never } : {}) });
  } catch (e) {
    return fail(`stored options are invalid: ${(e as Error).message}`);
  }
  // Their shapes too: a matrix stored transposed (numpy's `wq.T`) has the right size, and read in
  // its order would restore silently as another function (found by a fuzz of corrupt snapshots).
  // (Every later check agrees with these options' precision: the caller's and a model's must.)
  const dtype = own.precision === 'float32' ? 'F32' : 'F64';
  const shapes = weightShapes(own);
  for (const name of WEIGHT_NAMES) {
    if (weights[name] !== undefined) shapedTensor(tensors, `${prefix}weights.${name}`, dtype, shapes[name], fail);
  }
  if (external !== undefined && model === null && guard?.weights == null) {
    throw new AttentionError(
      'INVALID_OPTION',
      `snapshot${where} was saved without its weights (snapshot({ weights: false })): restore it onto the model it was saved from (${
        prefix === '' ? "the engine or cross-attention as the second argument" : 'restoreAttentionStack(bytes, stack)'
      }), or with ${prefix === '' ? 'its options' : '{ layers }, each layer\'s options'}, weights included`,
      { field: 'weights' },
    );
  }
  let o: ResolvedOptions;
  if (model !== null) {
    // Restored onto a model's engine: the file must be a session of that model, and the engine
    // takes the model's options as they are (its weights, kernels, pool and withWeights). Saved
    // without them, the weights are the model's, checked by their fingerprint.
    assertAgrees(own, model, where, external === undefined);
    if (external !== undefined && model.weights === null) {
      throw new AttentionError('INVALID_OPTION', `snapshot${where} was saved without its weights, and the model has none (seed mode)`, { field: 'weights' });
    }
    if (external !== undefined) assertFingerprint(metadata, prefix, model, `snapshot${where}: the model's weights`);
    o = model;
  } else if (external !== undefined) {
    try {
      // The stored options are valid (above): what does not fit is the weights given.
      o = resolveOptions({ ...(stored as AttentionOptions), weights: (expected as AttentionOptions).weights! });
    } catch (e) {
      throw new AttentionError('INVALID_OPTION', `snapshot${where}: the weights given do not fit its stored options: ${(e as Error).message}`, { field: 'weights' });
    }
    assertFingerprint(metadata, prefix, o, `snapshot${where}: the weights given`);
  } else {
    o = own;
  }
  if (guard !== null) assertAgrees(o, guard, where);
  if (Object.keys(choices).length > 0) {
    // How to run and what to report are the caller's to choose: they do not change the numbers.
    o = resolveOptions({
      ...plainOptions(o),
      ...(o.weights === null ? {} : { weights: Object.fromEntries(Object.entries(o.weights).filter(([, w]) => w !== null)) as unknown as AttentionWeights }),
      ...choices,
    });
  }
  const length = integerField(metadata[`${prefix}length`], 'length', fail);
  if (length > MAX_STREAM_LENGTH) fail(`length ${length} exceeds the ${MAX_STREAM_LENGTH} tokens a stream can hold`);
  const emitted = integerField(metadata[`${prefix}emitted`], 'emitted', fail);
  if (emitted > length) fail(`emitted ${emitted} exceeds length ${length}`);
  // After any push every query but the last `lookahead` has been answered.
  if (emitted < length - o.lookahead) fail(`emitted ${emitted} is below length ${length} − lookahead ${o.lookahead}`);
  const positionsTensor = tensors.get(`${prefix}positions`) ?? fail('tensor positions is missing');
  if (positionsTensor.dtype !== 'I32' || positionsTensor.shape.length !== 1) fail('positions must be I32 of shape [T]');
  const positions = positionsTensor.data;
  const T = positions.length;
  const kvWidth = o.kvHeads * o.headDim;
  const qWidth = o.heads * o.headDim;
  const { kvHeads, headDim, blockSize } = o;
  const int8 = o.cacheDtype === 'int8';
  for (let t = 0; t < T; t++) {
    const p = positions[t]!;
    if (p < 0 || p >= length || (t > 0 && p <= positions[t - 1]!)) fail(`positions must ascend within [0, ${length}), got ${p} at ${t}`);
  }
  // A snapshot saves the blocks it holds whole (heldPositions): a gap would be read as a token
  // whose key and value are zeros, and a file of scattered positions would allocate a block apiece.
  const heldBlocks = new Map<number, number>();
  for (const p of positions) {
    const b = Math.floor(p / blockSize);
    heldBlocks.set(b, (heldBlocks.get(b) ?? 0) + 1);
  }
  for (const [b, count] of heldBlocks) {
    const whole = Math.min(length, (b + 1) * blockSize) - b * blockSize;
    if (count !== whole) fail(`block ${b} holds ${count} of its ${whole} positions below length ${length}; a snapshot holds its blocks whole`);
  }
  const keyBlocks = int8 ? intTensor(tensors, `${prefix}key_blocks`, fail) : new Int32Array(0);
  const unrotatedKeys = metadata['version'] === '1' && o.invFreq !== null && o.ropePositions === 'cache';
  if (unrotatedKeys && keyBlocks.length > 0) {
    throw new AttentionError('UNSUPPORTED_SNAPSHOT', `snapshot${where}: a version-1 file's int8 keys under RoPE 'cache' positions were quantized unrotated and cannot be rotated exactly`, {
      field: 'version',
    });
  }
  const quantized = new Set(keyBlocks);
  keyBlocks.forEach((b, q) => {
    if (!heldBlocks.has(b) || (q > 0 && b <= keyBlocks[q - 1]!)) fail(`key_blocks must ascend and name held blocks, got ${b} at ${q}`);
  });
  const floatKeyCount = Array.from(positions).filter((p) => !quantized.has(Math.floor(p / blockSize))).length;
  const keys = floatTensor(tensors, `${prefix}keys`, dtype, [floatKeyCount, kvHeads, headDim], fail);
  if (int8) {
    // A float64 key an int8 cache could not scale, as a push refuses it: cached, it would give its
    // block an infinite scale when the block fills, and every later step would overflow.
    const at = beyondInt8Range(keys);
    if (at >= 0) fail(`tensor keys holds ${keys[at]} at element ${at}, beyond the ±4.3e40 an int8 cache's float32 scales reach`);
  }
  const values = int8 ? null : floatTensor(tensors, `${prefix}values`, dtype, [T, kvHeads, headDim], fail);
  const queries = o.lookahead > 0 ? floatTensor(tensors, `${prefix}queries`, dtype, [T, qWidth], fail) : null;
  if (o.lookahead === 0 && tensors.has(`${prefix}queries`)) fail('queries are stored but the options have no look-ahead');
  // The other kind of cache's rows, ignored, would be data the file's writer meant something by.
  const strayRows = (int8 ? ['values'] : ['key_blocks', 'keys_int8', 'key_scales', 'values_int8', 'value_scales']).find((name) => tensors.has(`${prefix}${name}`));
  if (strayRows !== undefined) fail(`tensor ${strayRows} is ${int8 ? 'a float cache\'s' : 'an int8 cache\'s'}, but the options' cache is ${o.cacheDtype}`);
  const keysInt8 = int8 ? int8Tensor(tensors, `${prefix}keys_int8`, [keyBlocks.length, kvHeads, blockSize, headDim], fail) : null;
  const keyScales = int8 ? scaleTensor(tensors, `${prefix}key_scales`, [keyBlocks.length, kvHeads, headDim], o, fail) : null;
  const valuesInt8 = int8 ? int8Tensor(tensors, `${prefix}values_int8`, [T, kvHeads, headDim], fail) : null;
  const valueScales = int8 ? scaleTensor(tensors, `${prefix}value_scales`, [T, kvHeads], o, fail) : null;
  const floors = keyFloors(tensors, prefix, o, quantized, heldBlocks, fail);
  const exact = exactKeys(tensors, prefix, o, dtype, length, keyBlocks, keysInt8, keyScales, fail);
  // Every key a future query can attend must be there: the sinks and the window's reach.
  const held = new Set(positions);
  const oldest = oldestAttendable(o, emitted);
  for (let p = 0; p < Math.min(o.sinks, length); p++) if (!held.has(p)) fail(`sink position ${p} is missing`);
  for (let p = oldest; p < length; p++) if (!held.has(p)) fail(`position ${p} is needed but missing`);
  if (unrotatedKeys) {
    // A version-1 file stored these keys unrotated: one its rotation overflows would, cached, refuse
    // every later step, so it is refused here as a push refuses it (every key is float: see above).
    const row = new o.Float(headDim);
    for (let t = 0; t < T; t++) {
      for (let g = 0; g < kvHeads; g++) {
        row.set(keys.subarray(t * kvWidth + g * headDim, t * kvWidth + (g + 1) * headDim));
        ropeRotate(row, 0, positions[t]!, o.invFreq!, o.ropeStyle === 'interleaved');
        if (!row.every(Number.isFinite)) fail(`the key of position ${positions[t]} overflows when rotated (a version-1 file stored it unrotated)`);
        // Rotated, a key may grow by up to √2: past an int8 cache's range, as a push would refuse it.
        if (int8 && beyondInt8Range(row) >= 0) fail(`the key of position ${positions[t]} passes the ±4.3e40 an int8 cache's float32 scales reach when rotated (a version-1 file stored it unrotated)`);
      }
    }
  }
  const cache = newCache(o);
  const blocks = new Map<number, KVBlock>();
  const blockOf = (b: number): KVBlock => blocks.get(b) ?? blocks.set(b, cache.restoreBlock(b)).get(b)!;
  keyBlocks.forEach((b, q) => {
    blockOf(b);
    const quantized = keysInt8!.slice(q * kvHeads * blockSize * headDim, (q + 1) * kvHeads * blockSize * headDim);
    blocks.set(b, cache.restoreQuantizedKeys(b, quantized, keyScales!.slice(q * kvWidth, (q + 1) * kvWidth)));
  });
  let f = 0;
  for (let t = 0; t < T; t++) {
    const p = positions[t]!;
    const b = Math.floor(p / blockSize);
    const slot = p - b * blockSize;
    const block = blockOf(b);
    for (let g = 0; g < kvHeads; g++) {
      const to = (g * blockSize + slot) * headDim;
      const from = t * kvWidth + g * headDim;
      if (block.keys !== null) {
        block.keys.set(keys.subarray(f * kvWidth + g * headDim, f * kvWidth + (g + 1) * headDim), to);
        if (unrotatedKeys) ropeRotate(block.keys, to, p, o.invFreq!, o.ropeStyle === 'interleaved');
      }
      if (values !== null) writeValueRow(block.values!, g * blockSize * headDim, blockSize, headDim, slot, values, from);
      else {
        block.valuesInt8!.set(valuesInt8!.subarray(from, from + headDim), to);
        block.valueScales![g * blockSize + slot] = valueScales![t * kvHeads + g]!;
      }
    }
    if (block.keys !== null) f++;
    if (queries !== null) block.queries!.set(queries.subarray(t * qWidth, (t + 1) * qWidth), slot * qWidth);
  }
  floors.forEach((floor, b) => cache.restoreKeyFloor(b, floor));
  exact.forEach((keys, b) => cache.restoreExactKeys(b, keys));
  cache.skipTo(length);
  return { options: o, cache, emitted };
}

/**
 * The float keys quantized blocks were made from (`exact_key_blocks`, `exact_keys`), by block: each
 * names a quantized block a truncate within retain + lookahead may still write into, and its keys
 * quantize to exactly the block's int8 keys and scales, as they did when it filled.
 */
function exactKeys(
  tensors: ReadonlyMap<string, Tensor>,
  prefix: string,
  o: ResolvedOptions,
  dtype: 'F32' | 'F64',
  length: number,
  keyBlocks: Int32Array,
  keysInt8: Int8Array | null,
  keyScales: Float32Array | null,
  fail: (m: string) => never,
): Map<number, Float32Array | Float64Array> {
  const exact = new Map<number, Float32Array | Float64Array>();
  const [blocksName, keysName] = [`${prefix}exact_key_blocks`, `${prefix}exact_keys`];
  if (!tensors.has(blocksName) && !tensors.has(keysName)) return exact;
  if (o.cacheDtype !== 'int8') fail(`${keysName} are stored but the cache is not int8`);
  const blocks = intTensor(tensors, blocksName, fail);
  if (blocks.length === 0) fail(`${blocksName} is empty; it is written only when a block has its float keys kept`);
  const { kvHeads, blockSize, headDim } = o;
  const [blockWidth, kvWidth] = [kvHeads * blockSize * headDim, kvHeads * headDim];
  const data = floatTensor(tensors, keysName, dtype, [blocks.length, kvHeads, blockSize, headDim], fail);
  const reach = o.retain + o.lookahead;
  const [int8, scales] = [new Int8Array(blockWidth), new Float32Array(kvWidth)];
  blocks.forEach((b, e) => {
    const q = keyBlocks.indexOf(b);
    if (q < 0 || (e > 0 && b <= blocks[e - 1]!)) fail(`exact_key_blocks must ascend and name blocks in key_blocks, got ${b} at ${e}`);
    // What the engine forgets once its stream has moved on: (b + 1)·blockSize − 1 is the last truncate into the block.
    if ((b + 1) * blockSize <= length - reach) fail(`exact_key_blocks names block ${b}, which no truncate within retain + lookahead (${reach}) of length ${length} can reach`);
    const keys = data.slice(e * blockWidth, (e + 1) * blockWidth);
    for (let g = 0; g < kvHeads; g++) quantizeColumnsInt8(int8, scales, g * headDim, keys, g * blockSize * headDim, blockSize, headDim);
    const sameInt8 = int8.every((x, i) => x === keysInt8![q * blockWidth + i]);
    const sameScales = scales.every((x, i) => Object.is(x, keyScales![q * kvWidth + i]));
    if (!sameInt8 || !sameScales) fail(`exact_keys of block ${b} do not quantize to its keys_int8 and key_scales`);
    exact.set(b, keys);
  });
  return exact;
}

/**
 * The floor scales of the int8 blocks a truncate made float again (`key_floor_blocks`,
 * `key_floors`), by block: each names a held block whose keys are float, and no scale is one the
 * cache could not have set.
 */
function keyFloors(
  tensors: ReadonlyMap<string, Tensor>,
  prefix: string,
  o: ResolvedOptions,
  quantized: ReadonlySet<number>,
  heldBlocks: ReadonlyMap<number, number>,
  fail: (m: string) => never,
): Map<number, Float32Array> {
  const floors = new Map<number, Float32Array>();
  const [blocksName, floorsName] = [`${prefix}key_floor_blocks`, `${prefix}key_floors`];
  if (!tensors.has(blocksName) && !tensors.has(floorsName)) return floors;
  if (o.cacheDtype !== 'int8') fail(`${floorsName} are stored but the cache is not int8`);
  const blocks = intTensor(tensors, blocksName, fail);
  // Written only for R > 0: an empty pair is no file this library writes.
  if (blocks.length === 0) fail(`${blocksName} is empty; it is written only when a block has floor scales`);
  const kvWidth = o.kvHeads * o.headDim;
  const data = scaleTensor(tensors, floorsName, [blocks.length, o.kvHeads, o.headDim], o, fail);
  blocks.forEach((b, r) => {
    if (!heldBlocks.has(b) || quantized.has(b) || (r > 0 && b <= blocks[r - 1]!)) fail(`key_floor_blocks must ascend and name held blocks whose keys are float, got ${b} at ${r}`);
    floors.set(b, data.slice(r * kvWidth, (r + 1) * kvWidth));
  });
  return floors;
}

function intTensor(tensors: ReadonlyMap<string, Tensor>, name: string, fail: (m: string) => never): Int32Array {
  const t = tensors.get(name) ?? fail(`tensor ${name} is missing`);
  if (t.dtype !== 'I32' || t.shape.length !== 1) fail(`tensor ${name} must be I32 of shape [n]`);
  return t.data as Int32Array;
}

function shapedTensor(tensors: ReadonlyMap<string, Tensor>, name: string, dtype: Tensor['dtype'], shape: number[], fail: (m: string) => never): Tensor['data'] {
  const t = tensors.get(name) ?? fail(`tensor ${name} is missing`);
  if (t.dtype !== dtype) fail(`tensor ${name} is ${t.dtype}, expected ${dtype}`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) fail(`tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  return t.data;
}

/** An int8 cache's rows: −127 to 127, as quantizing rounds them (−128 is no value it makes). */
function int8Tensor(tensors: ReadonlyMap<string, Tensor>, name: string, shape: number[], fail: (m: string) => never): Int8Array {
  const data = shapedTensor(tensors, name, 'I8', shape, fail) as Int8Array;
  const at = data.indexOf(-128);
  if (at >= 0) fail(`tensor ${name} holds -128 at element ${at}, outside the -127 to 127 quantizing makes`);
  return data;
}

/**
 * An int8 cache's scales, each one quantizing could have made (a float32 engine's dequantized
 * value past float32's range would be Infinity, and its outputs NaN).
 */
function scaleTensor(tensors: ReadonlyMap<string, Tensor>, name: string, shape: number[], o: ResolvedOptions, fail: (m: string) => never): Float32Array {
  const data = shapedTensor(tensors, name, 'F32', shape, fail) as Float32Array;
  const float32 = o.precision === 'float32';
  for (let i = 0; i < data.length; i++) if (!isInt8Scale(data[i]!, float32)) fail(`tensor ${name} holds an invalid scale at element ${i}: ${data[i]}`);
  return data;
}

/**
 * The run choices in `expected` (kernels, threads, withWeights), those given. Without `dim`
 * (`only`), `expected` may hold nothing else: the rest of the options come from the file.
 */
function runChoices(expected: AttentionOptions | RunOptions, only: boolean): RunOptions {
  for (const key of Object.keys(expected)) {
    if (only && !(RUN_OPTIONS as readonly string[]).includes(key)) {
      throw new AttentionError(
        'INVALID_OPTION',
        `option ${key}: options without dim choose only ${RUN_OPTIONS.join(', ')} (the rest comes from the snapshot); give the whole options to check them against it`,
        { field: key },
      );
    }
  }
  return Object.fromEntries(RUN_OPTIONS.filter((key) => expected[key] !== undefined).map((key) => [key, expected[key]])) as RunOptions;
}

/**
 * Options the writer never puts in a file's `options` ({@link plainOptions}): the weights are
 * tensors (or the caller's), and the kernels and thread pool are the restorer's to choose (the
 * file holds what the numbers are, not how they are run). Honoured, a hand-edited file would pick
 * them, or turn a seed-mode file into a weighted engine. `withWeights` is written: what the steps
 * carry is the engine's.
 */
const NEVER_STORED = ['weights', 'kernels', 'threads'] as const;

const STRUCTURAL = ['dim', 'heads', 'kvHeads', 'headDim', 'scale', 'scoreCap', 'precision', 'weightsDtype', 'positions', 'ropeBase', 'ropePositions', 'ropeDim', 'ropeStyle', 'window', 'sinks', 'retain', 'lookahead', 'blockSize', 'cacheDtype'] as const;

/**
 * Refuses weights (INVALID_OPTION, field weights) that are not the ones a snapshot saved without
 * them recorded: another model's, of the same shapes. A file records the digest of every entry
 * (`weights_digest`), and the sampled fingerprint older readers check; one written before the
 * digest is checked by its fingerprint alone, one written before fingerprints not at all.
 */
function assertFingerprint(metadata: Readonly<Record<string, string>>, prefix: string, o: ResolvedOptions, whose: string): void {
  const digest = metadata[`${prefix}weights_digest`];
  const recorded = digest ?? metadata[`${prefix}weights_fingerprint`];
  if (recorded === undefined) return;
  const actual = digest !== undefined ? weightsDigest(o) : weightsFingerprint(o);
  if (recorded === actual) return;
  throw new AttentionError(
    'INVALID_OPTION',
    `${whose} are not the ones it was taken with (${digest !== undefined ? 'digest' : 'fingerprint'} ${actual}, the snapshot's ${shownText(recorded)}): restore a session with its own model's weights`,
    { field: 'weights' },
  );
}

/**
 * Refuses `expected` (INVALID_OPTION naming the option, and the layer of a stack, `where`) where it
 * disagrees with `stored`; the weights too unless told not to.
 */
function assertAgrees(stored: ResolvedOptions, expected: ResolvedOptions, where: string, weightsToo = true): void {
  const refuse = (field: string, message: string): never => {
    throw new AttentionError('INVALID_OPTION', where === '' ? message : `snapshot${where}: ${message}`, { field });
  };
  // The weights first: a seed-mode file restored with weights would otherwise be told apart only by
  // its scale. (A file saved without them has its weights told apart by their fingerprint.)
  if (weightsToo && (stored.weights === null) !== (expected.weights === null)) {
    refuse('weights', `options ${expected.weights === null ? 'give no weights' : 'give weights'} but the snapshot was taken ${stored.weights === null ? 'in seed mode, without' : 'with weights'}`);
  }
  const bothWeights = weightsToo && stored.weights !== null && expected.weights !== null;
  for (const name of bothWeights ? WEIGHT_NAMES : []) {
    const mine = stored.weights![name];
    const theirs = expected.weights![name];
    if ((mine === null) !== (theirs === null)) refuse(`weights.${name}`, `option weights.${name} is ${theirs === null ? 'absent' : 'given'} but the snapshot was taken ${mine === null ? 'without' : 'with'} it`);
  }
  for (const key of STRUCTURAL) {
    if (stored[key] !== expected[key]) {
      refuse(key, `option ${key} is ${String(expected[key])} but the snapshot was taken with ${String(stored[key])}`);
    }
  }
  // Their numbers after the shapes and the precision: float32 weights against the same given as
  // float64 differ in their roundings, and the precision is what the caller got wrong.
  for (const name of bothWeights ? WEIGHT_NAMES : []) {
    const mine = stored.weights![name];
    const theirs = expected.weights![name];
    if (mine === null || theirs === null) continue;
    const differs = mine.findIndex((v, i) => v !== theirs[i]);
    if (differs >= 0) refuse(`weights.${name}`, `option weights.${name} differs from the snapshot's at element ${differs}: ${theirs[differs]} against ${mine[differs]}`);
  }
  // The rotation speeds given as such (ropeFrequencies): a base or ropeDim that differs was named above.
  const differs = stored.invFreq?.findIndex((f, m) => f !== expected.invFreq?.[m]) ?? -1;
  if (differs >= 0) {
    refuse('ropeFrequencies', `option ropeFrequencies gives ${expected.invFreq![differs]} at element ${differs} but the snapshot was taken with ${stored.invFreq![differs]}`);
  }
  if ((stored.sinkLogits === null) !== (expected.sinkLogits === null)) {
    refuse('sinkLogits', `option sinkLogits is ${expected.sinkLogits === null ? 'absent' : 'given'} but the snapshot was taken ${stored.sinkLogits === null ? 'without' : 'with'} them`);
  }
  const sinkDiffers = stored.sinkLogits?.findIndex((s, h) => s !== expected.sinkLogits![h]) ?? -1;
  if (sinkDiffers >= 0) {
    refuse('sinkLogits', `option sinkLogits gives ${expected.sinkLogits![sinkDiffers]} for head ${sinkDiffers} but the snapshot was taken with ${stored.sinkLogits![sinkDiffers]}`);
  }
}

/** A metadata entry that must be a non-negative integer, written in decimal digits; `fail` refuses it naming `name`. */
export function integerField(value: string | undefined, name: string, fail: (m: string) => never): number {
  const n = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || !Number.isSafeInteger(n)) fail(`${name} metadata must be a non-negative integer, got ${shownText(value)}`);
  return n;
}

function floatTensor(
  tensors: ReadonlyMap<string, Tensor>,
  name: string,
  dtype: 'F32' | 'F64',
  shape: number[],
  fail: (m: string) => never,
): Float32Array | Float64Array {
  const data = shapedTensor(tensors, name, dtype, shape, fail) as Float32Array | Float64Array;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) fail(`tensor ${name} holds a non-finite number at element ${i}`);
  return data;
}

