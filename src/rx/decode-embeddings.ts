import { AttentionError, quoted } from '../errors.js';
import { FORMAT_VERSION, HEADER_BYTES, MAGIC } from './embedding-format.js';
import { decodeUtf8, isUint8Array } from '../cache/caller-bytes.js';
import { f16ToF32Table } from '../kernels/float16.js';

/**
 * A decoded embedding file: the vocabulary and its row-major float32 matrix, the three arguments
 * {@link EmbeddingTable.fromMatrix} takes.
 *
 * @example
 * ```ts
 * import { decodeEmbeddings, EmbeddingTable } from 'attnstream/rx';
 * import type { DecodedEmbeddings } from 'attnstream/rx';
 * const decoded: DecodedEmbeddings = { words: ['yes', 'no'], dim: 2, vectors: new Float32Array([1, 0, 0, 1]) };
 * const table = EmbeddingTable.fromMatrix(decoded.words, decoded.vectors, decoded.dim);
 * console.log(table.lookup('no')); // Float32Array [0, 1]
 * ```
 */
export interface DecodedEmbeddings {
  /** One entry per row, in file order: unique, non-empty, no "\n". */
  words: string[];
  /** Numbers per row. */
  dim: number;
  /** Row-major, `words.length × dim`. */
  vectors: Float32Array;
}

/**
 * Reads an embedding table in the package's "ATSE" format — the format of the shipped
 * `data/embeddings-20k.bin` (the 20,000 most frequent words of GloVe 6B, 100 numbers each,
 * float16; see docs/data.md) — into words, dim and a float32 matrix.
 *
 * Pure: no Node built-ins, so it runs in a browser on the bytes of a `fetch`. float16 values are
 * converted exactly; int8 rows are multiplied by their scale. The result goes straight into
 * {@link EmbeddingTable.fromMatrix}; the shipped table is all lower case, so build it with
 * `lowercase: true`.
 *
 * @throws AttentionError INVALID_ARGUMENT, with a message starting `embedding-format:` that says
 *   what is wrong: not a Uint8Array, a bad magic, an unsupported version or encoding, bytes shorter
 *   than the header or than the header promises, trailing bytes, invalid UTF-8, a word count that
 *   disagrees with the header, an empty or repeated word, or an int8 row scale that is negative,
 *   NaN or too large.
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { decodeEmbeddings, EmbeddingTable } from 'attnstream/rx';
 * // The file ships inside the package; in a browser: new Uint8Array(await (await fetch(url)).arrayBuffer()).
 * const file = new URL('data/embeddings-20k.bin', import.meta.resolve('attnstream/package.json'));
 * const { words, dim, vectors } = decodeEmbeddings(new Uint8Array(readFileSync(file)));
 * console.log(words.length, dim, words.slice(0, 3)); // 20000 100 ['the', ',', '.']
 * const table = EmbeddingTable.fromMatrix(words, vectors, dim, { lowercase: true });
 * console.log(table.has('Dog')); // true
 * ```
 */
export function decodeEmbeddings(bytes: Uint8Array): DecodedEmbeddings {
  if (!isUint8Array(bytes)) fail('expected a Uint8Array');
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
    text = decodeUtf8(bytes.subarray(HEADER_BYTES, matrixAt), true);
  } catch {
    fail('word block is not valid UTF-8');
  }
  const words = count === 0 && text.length === 0 ? [] : text.split('\n');
  if (words.length !== count) fail(`word block holds ${words.length} words, header says ${count}`);
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const w = words[i]!;
    if (w.length === 0) fail(`word ${i} is empty`);
    if (seen.has(w)) fail(`duplicate word ${quoted(w)} at index ${i}`);
    seen.add(w);
  }

  const n = count * dim;
  const vectors = new Float32Array(n);
  if (code === 1) {
    const table = f16ToF32Table();
    for (let k = 0; k < n; k++) {
      const bits = view.getUint16(matrixAt + 2 * k, true);
      // Exponent bits all set: ±Infinity or NaN, which no encoder writes.
      if ((bits & 0x7c00) === 0x7c00) fail(`row ${Math.floor(k / dim)}, element ${k % dim} is ${table[bits]} (float16 bits 0x${bits.toString(16)}), not a finite number`);
      vectors[k] = table[bits]!;
    }
  } else {
    const scalesAt = matrixAt + matrixBytes;
    for (let r = 0; r < count; r++) {
      const scale = view.getFloat32(scalesAt + 4 * r, true);
      if (!(scale >= 0) || !Number.isFinite(Math.fround(127 * scale))) fail(`row ${r} has invalid scale ${scale}`);
      const base = r * dim;
      for (let d = 0; d < dim; d++) {
        const q = view.getInt8(matrixAt + base + d);
        // The format's int8 values lie in ±127 (the scale keeps 127·scale finite, not 128·scale).
        if (q === -128) fail(`row ${r}, element ${d} is -128, outside the format's -127 to 127`);
        vectors[base + d] = q * scale;
      }
    }
  }
  return { words, dim, vectors };
}

function fail(message: string): never {
  throw new AttentionError('INVALID_ARGUMENT', `embedding-format: ${message}`, { field: 'bytes' });
}
