import { AttentionError, describeValue, quoted } from '../errors.js';
import { widenFloat16 } from '../kernels/float16.js';
import { widenBfloat16 } from '../kernels/bfloat16.js';
import { FORMAT_BYTES, isTensorDtype, parseSafetensors, typed } from './safetensors.js';

/**
 * What {@link readSafetensors} gives a tensor's numbers as.
 *
 * @example
 * ```ts
 * import { readSafetensors } from 'attnstream';
 * import type { SafetensorsData } from 'attnstream';
 * declare const bytes: Uint8Array; // a checkpoint shard
 * const sinks: SafetensorsData = readSafetensors(bytes).read('model.layers.0.self_attn.sinks'); // BF16 → Float32Array
 * ```
 */
export type SafetensorsData = Float64Array | Float32Array | Int32Array | Int8Array;

/**
 * A safetensors file opened by {@link readSafetensors}: its header read and checked, each
 * tensor's numbers converted only when asked for.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { readSafetensors } from 'attnstream';
 * const file = readSafetensors(readFileSync('model.safetensors'));
 * for (const { name, dtype, shape } of file.tensors) console.log(name, dtype, shape);
 * ```
 */
export interface SafetensorsFile {
  /** The header's `__metadata__` strings (empty when it has none). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor's name, dtype and shape, in the order of their data in the file. */
  readonly tensors: readonly {
    /** The tensor's name in the header (`"model.layers.0.self_attn.q_proj.weight"`). */
    readonly name: string;
    /** Its dtype as the file gives it (`"BF16"`, `"F32"`, …). */
    readonly dtype: string;
    /** Its shape, outermost first. */
    readonly shape: readonly number[];
  }[];
  /**
   * A tensor's numbers, row-major, in a fresh array: F32, F16 and BF16 as a Float32Array (both
   * half-precision kinds widen exactly), F64 as a Float64Array, I32 and I8 as such.
   *
   * @throws AttentionError INVALID_ARGUMENT for a name the file does not hold; UNSUPPORTED_SNAPSHOT
   *   for another dtype (I64, U8, BOOL, the float8, float6 and float4 kinds, C64 …).
   */
  read(name: string): SafetensorsData;
}

/**
 * Opens a safetensors file, such as a Hugging Face checkpoint shard, for its tensors: the weights
 * to give `createAttention` or `createLinear`. The header is checked as a snapshot's
 * is, before anything is allocated for it; a tensor is copied out and converted when it is read,
 * so a shard's other tensors cost nothing. The file must fit in memory (a Uint8Array, as
 * `readFileSync` or a `fetch`'s `arrayBuffer` gives it).
 *
 * @throws AttentionError CORRUPT_SNAPSHOT (`field: "bytes"`) for a malformed file, saying what is
 *   wrong and where; from `read`, INVALID_ARGUMENT for a name the file does not hold, or once the
 *   bytes were detached or shrunk (read a tensor before transferring its file's buffer).
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { createAttention, readSafetensors } from 'attnstream';
 * // Layer 0 of a Llama-style checkpoint (docs/guides/models.md maps the rest of its config).
 * const file = readSafetensors(readFileSync('model.safetensors'));
 * const layer = (name: string) => file.read(`model.layers.0.self_attn.${name}.weight`);
 * const attn = createAttention({
 *   dim: 2048, heads: 32, kvHeads: 8, headDim: 64, positions: 'rope', ropeBase: 500000,
 *   weights: { wq: layer('q_proj'), wk: layer('k_proj'), wv: layer('v_proj'), wo: layer('o_proj') },
 * });
 * ```
 */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  const { entries, metadata } = parseSafetensors(bytes, 'safetensors file', FORMAT_BYTES);
  const byName = new Map(entries.map((entry) => [entry.name, entry]));
  return {
    metadata,
    tensors: entries.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
    read(name: string): SafetensorsData {
      const entry = typeof name === 'string' ? byName.get(name) : undefined;
      if (entry === undefined) {
        throw new AttentionError('INVALID_ARGUMENT', `readSafetensors: the file holds no tensor ${describeValue(name)}`, { field: 'name' });
      }
      const { dtype } = entry;
      if (dtype !== 'F16' && dtype !== 'BF16' && !isTensorDtype(dtype)) {
        throw new AttentionError('UNSUPPORTED_SNAPSHOT', `readSafetensors: tensor ${quoted(name)} is ${dtype}; only F64, F32, F16, BF16, I32 and I8 are read`, {
          field: 'dtype',
          actual: dtype,
        });
      }
      // The tensors are read from the caller's bytes when asked for: a buffer detached since (posted
      // to a worker, a WebAssembly.Memory that grew) has none left, a resizable one shrunk fewer.
      if (bytes.byteLength < entry.at + entry.bytes) {
        throw new AttentionError(
          'INVALID_ARGUMENT',
          `readSafetensors: the file's bytes are gone (their buffer was detached: transferred, or a WebAssembly.Memory that grew; or shrunk) before tensor ${quoted(name)} was read; keep them, or pass a copy`,
          { field: 'bytes' },
        );
      }
      // A fresh, aligned copy of exactly the tensor's bytes.
      const copy = new Uint8Array(bytes.subarray(entry.at, entry.at + entry.bytes)).buffer;
      if (dtype === 'F16') return widenFloat16(new Uint16Array(copy));
      if (dtype === 'BF16') return widenBfloat16(new Uint16Array(copy));
      return typed(dtype, copy);
    },
  };
}

