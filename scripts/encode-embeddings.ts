/**
 * Binary format for a compact word-embedding table ("ATSE", version 1).
 *
 * Pure and platform-neutral: no Node built-ins, only ES2022 plus the
 * TextEncoder / TextDecoder globals (present in Node >= 11 and every browser),
 * so the same decoder runs in Node and in a browser.
 *
 * Layout (all multi-byte integers and floats little-endian); see docs/data.md:
 *
 *   offset  size  field
 *   0       4     magic, ASCII "ATSE"
 *   4       2     u16 version (= 1)
 *   6       1     u8 encoding: 1 = float16, 2 = int8 with per-row float32 scale
 *   7       1     u8 reserved (= 0)
 *   8       4     u32 count  (number of words / rows)
 *   12      4     u32 dim    (floats per row)
 *   16      4     u32 wordsByteLength
 *   20      W     words: UTF-8, joined with "\n" (0x0A), no trailing newline
 *   20+W    M     matrix, row-major, count × dim values:
 *                   encoding 1: IEEE 754 binary16, 2 bytes each   (M = 2·count·dim)
 *                   encoding 2: int8 two's complement, 1 byte each (M = count·dim)
 *   20+W+M  S     encoding 2 only: count × float32 row scales (S = 4·count),
 *                 each >= 0 with 127·scale finite in float32;
 *                 value = int8 · scale.  Encoding 1: S = 0.
 *
 * The file ends exactly there; trailing bytes are an error.
 */

export const MAGIC = 'ATSE';
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 20;

/** Numeric codes stored in the header's encoding byte. */
export const ENCODING_CODES = { f16: 1, i8: 2 } as const;
export type EmbeddingEncoding = keyof typeof ENCODING_CODES;

export interface EmbeddingTable {
  /** One entry per row, unique, non-empty, no "\n". */
  words: string[];
  /** Floats per row. */
  dim: number;
  /** Row-major, words.length × dim. */
  vectors: Float32Array;
}

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

// ---------------------------------------------------------------------------
// float16 <-> float32 (exact, round-to-nearest-even; Node 20 has no Math.f16round)

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Largest finite binary16 value. */
export const F16_MAX = 65504;

/**
 * Bits of the binary16 value nearest to `x` (first rounded to float32),
 * ties to even. Overflow gives ±Infinity bits; NaN gives a quiet NaN.
 */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp32 = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp32 === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp32 - 127 + 15; // rebiased exponent
  if (e >= 0x1f) return sign | 0x7c00; // too large: Infinity
  if (e <= 0) {
    // Result is subnormal (or zero): value = r · 2^-24.
    if (e < -10) return sign; // below half the smallest subnormal: ±0
    mant |= 0x800000; // implicit leading bit
    const shift = 14 - e; // 14..24
    const r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    const up = rem > halfway || (rem === halfway && (r & 1) === 1);
    return sign | (r + (up ? 1 : 0)); // a carry into 0x400 is the smallest normal: correct
  }
  const h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  const up = rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1);
  return sign | (h + (up ? 1 : 0)); // a carry may step the exponent, up to 0x7c00 = Infinity: correct
}

let f16Table: Float32Array | undefined;

/** Lookup table of all 65536 binary16 values as float32 (built once, 256 KiB). */
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    let v: number;
    if (exp === 0) v = mant * 2 ** -24;
    else if (exp === 0x1f) v = mant === 0 ? Infinity : NaN;
    else v = (1024 + mant) * 2 ** (exp - 25);
    t[h] = sign * v;
  }
  f16Table = t;
  return t;
}

/** The float value of binary16 bits `h` (0..65535). */
export function f16BitsToF32(h: number): number {
  return f16ToF32Table()[h & 0xffff]!;
}

// ---------------------------------------------------------------------------
// encode

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

// ---------------------------------------------------------------------------
// decode

/**
 * Parse ATSE v1 bytes. Throws an Error with a clear message on a bad magic,
 * an unsupported version or encoding, truncated or trailing bytes, invalid
 * UTF-8, a word count that disagrees with the header, an empty or duplicate
 * word, or bad int8 scales.
 */
export function decodeEmbeddings(bytes: Uint8Array): EmbeddingTable {
  if (!(bytes instanceof Uint8Array)) fail('expected a Uint8Array');
  if (bytes.length < HEADER_BYTES) {
    fail(`truncated: ${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  }
  const magic = String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!);
  if (magic !== MAGIC) fail(`bad magic ${JSON.stringify(magic)}, expected ${JSON.stringify(MAGIC)}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (version !== FORMAT_VERSION) fail(`unsupported version ${version}, expected ${FORMAT_VERSION}`);
  const code = bytes[6]!;
  if (code !== 1 && code !== 2) fail(`unknown encoding code ${code} (1 = f16, 2 = i8)`);
  const count = view.getUint32(8, true);
  const dim = view.getUint32(12, true);
  const wordsLen = view.getUint32(16, true);
  if (dim === 0) fail('dim is 0');

  const matrixAt = HEADER_BYTES + wordsLen;
  const matrixBytes = (code === 1 ? 2 : 1) * count * dim;
  const scaleBytes = code === 2 ? 4 * count : 0;
  const expected = matrixAt + matrixBytes + scaleBytes;
  if (bytes.length < expected) fail(`truncated: header promises ${expected} bytes, got ${bytes.length}`);
  if (bytes.length > expected) fail(`${bytes.length - expected} unexpected trailing bytes after ${expected}`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(HEADER_BYTES, matrixAt));
  } catch {
    fail('word block is not valid UTF-8');
  }
  const words = count === 0 && text.length === 0 ? [] : text.split('\n');
  if (words.length !== count) fail(`word block holds ${words.length} words, header says ${count}`);
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const w = words[i]!;
    if (w.length === 0) fail(`word ${i} is empty`);
    if (seen.has(w)) fail(`duplicate word ${JSON.stringify(w)} at index ${i}`);
    seen.add(w);
  }

  const n = count * dim;
  const vectors = new Float32Array(n);
  if (code === 1) {
    const table = f16ToF32Table();
    for (let k = 0; k < n; k++) vectors[k] = table[view.getUint16(matrixAt + 2 * k, true)]!;
  } else {
    const scalesAt = matrixAt + matrixBytes;
    for (let r = 0; r < count; r++) {
      const scale = view.getFloat32(scalesAt + 4 * r, true);
      if (!(scale >= 0) || !Number.isFinite(Math.fround(127 * scale))) fail(`row ${r} has invalid scale ${scale}`);
      const base = r * dim;
      for (let d = 0; d < dim; d++) vectors[base + d] = view.getInt8(matrixAt + base + d) * scale;
    }
  }
  return { words, dim, vectors };
}
