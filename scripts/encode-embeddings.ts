/**
 * Writes an embedding table in the "ATSE" v1 format (layout: src/rx/embedding-format.ts and
 * docs/data.md), the inverse of `decodeEmbeddings` from `attnstream/rx`. Only the repository needs
 * it (`scripts/make-data.ts` builds the shipped data/embeddings-20k.bin with it), so it stays out of
 * the package.
 */
import { ENCODING_CODES, FORMAT_VERSION, HEADER_BYTES, MAGIC } from '../src/rx/embedding-format.js';
import type { EmbeddingEncoding } from '../src/rx/embedding-format.js';
import { F16_MAX, f32ToF16Bits } from '../src/kernels/float16.js';

export interface EncodeInput {
  words: readonly string[];
  dim: number;
  /** Row-major, words.length × dim; must be finite. */
  vectors: ArrayLike<number>;
}

export interface EncodeOptions {
  /** Default "f16". */
  encoding?: EmbeddingEncoding;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

function fail(message: string): never {
  throw new Error(`embedding-format: ${message}`);
}

/**
 * Per-row scale for the int8 encoding: max |x| / 127 as float32 (0 for an
 * all-zero row), stepped down by one float32 ulp where needed so that
 * 127 · scale stays finite in float32 (rows near ±3.4e38).
 */
function rowScale(vectors: ArrayLike<number>, base: number, dim: number): number {
  let maxAbs = 0;
  for (let d = 0; d < dim; d++) {
    const a = Math.abs(Math.fround(vectors[base + d]!));
    if (a > maxAbs) maxAbs = a;
  }
  const scale = Math.fround(maxAbs / 127);
  if (Number.isFinite(Math.fround(127 * scale))) return scale;
  f32Scratch[0] = scale;
  u32Scratch[0] = u32Scratch[0]! - 1; // next float32 towards zero (scale is positive and finite)
  return f32Scratch[0]!;
}

/**
 * Serialise a table to the ATSE v1 format. Deterministic: equal input gives
 * identical bytes. Throws on empty, duplicate, newline-containing or
 * ill-formed (lone-surrogate) words, a
 * non-positive or non-integer dim, a vectors length other than
 * words.length × dim, non-finite values, or (f16) values beyond ±65504.
 */
export function encodeEmbeddings(table: EncodeInput, options: EncodeOptions = {}): Uint8Array {
  const encoding = options.encoding ?? 'f16';
  const code = ENCODING_CODES[encoding];
  if (code === undefined) fail(`unknown encoding ${JSON.stringify(encoding)}`);
  const { words, dim, vectors } = table;
  const count = words.length;
  if (!Number.isInteger(dim) || dim < 1 || dim > 0xffffffff) fail(`dim must be a positive integer, got ${dim}`);
  if (count > 0xffffffff) fail(`too many words: ${count}`);
  if (vectors.length !== count * dim) {
    fail(`vectors has length ${vectors.length}, expected words.length × dim = ${count} × ${dim} = ${count * dim}`);
  }
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const w = words[i]!;
    if (typeof w !== 'string' || w.length === 0) fail(`word ${i} is empty`);
    if (w.includes('\n')) fail(`word ${i} (${JSON.stringify(w)}) contains a newline`);
    if (/\p{Cs}/u.test(w)) fail(`word ${i} (${JSON.stringify(w)}) contains a lone surrogate (not encodable as UTF-8)`);
    if (seen.has(w)) fail(`duplicate word ${JSON.stringify(w)} at index ${i}`);
    seen.add(w);
  }
  for (let k = 0; k < vectors.length; k++) {
    const x = vectors[k]!;
    if (!Number.isFinite(x)) fail(`non-finite value ${x} at row ${Math.floor(k / dim)}, column ${k % dim}`);
  }

  const wordBytes = new TextEncoder().encode(words.join('\n'));
  const matrixBytes = code === 1 ? 2 * count * dim : count * dim;
  const scaleBytes = code === 2 ? 4 * count : 0;
  const total = HEADER_BYTES + wordBytes.length + matrixBytes + scaleBytes;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);

  for (let i = 0; i < 4; i++) out[i] = MAGIC.charCodeAt(i);
  view.setUint16(4, FORMAT_VERSION, true);
  out[6] = code;
  out[7] = 0;
  view.setUint32(8, count, true);
  view.setUint32(12, dim, true);
  view.setUint32(16, wordBytes.length, true);
  out.set(wordBytes, HEADER_BYTES);

  const matrixAt = HEADER_BYTES + wordBytes.length;
  if (code === 1) {
    for (let k = 0; k < vectors.length; k++) {
      const h = f32ToF16Bits(vectors[k]!);
      if ((h & 0x7c00) === 0x7c00) {
        fail(`value ${vectors[k]} at row ${Math.floor(k / dim)}, column ${k % dim} is out of float16 range (±${F16_MAX})`);
      }
      view.setUint16(matrixAt + 2 * k, h, true);
    }
  } else {
    const scalesAt = matrixAt + matrixBytes;
    for (let r = 0; r < count; r++) {
      const base = r * dim;
      const scale = rowScale(vectors, base, dim);
      view.setFloat32(scalesAt + 4 * r, scale, true);
      for (let d = 0; d < dim; d++) {
        const q = scale === 0 ? 0 : Math.round(Math.fround(vectors[base + d]!) / scale);
        view.setInt8(matrixAt + base + d, Math.max(-127, Math.min(127, q)));
      }
    }
  }
  return out;
}

