/**
 * The "ATSE" binary format (version 1) of a compact word-embedding table, the format of the
 * shipped `data/embeddings-20k.bin`; read by {@link decodeEmbeddings}, written by
 * `scripts/encode-embeddings.ts`. See docs/data.md.
 *
 * Layout (all multi-byte integers and floats little-endian):
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
