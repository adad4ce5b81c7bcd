import { readFileSync } from 'node:fs';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { encodeEmbeddings } from '../scripts/encode-embeddings.js';
import { HEADER_BYTES, type EmbeddingEncoding } from '../src/rx/embedding-format.js';
import { F16_MAX, f16BitsToF32, f32ToF16Bits } from '../src/kernels/float16.js';
import { decodeEmbeddings } from '../src/rx/index.js';

const DATA_FILE = new URL('../data/embeddings-20k.bin', import.meta.url);

// --- helpers ---------------------------------------------------------------

/** Reference float16 rounding: binary search over the (monotonic) positive finite halves, ties to even. */
function referenceF16(x: number): number {
  const ax = Math.abs(x);
  let y: number;
  if (ax >= 65520) y = Infinity; // 65520 is the midpoint between 65504 and 2^16; ties-to-even rounds it up
  else {
    let lo = 0; // largest h with value(h) <= ax
    let hi = 0x7bff;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (f16BitsToF32(mid) <= ax) lo = mid;
      else hi = mid - 1;
    }
    const a = f16BitsToF32(lo);
    const b = lo < 0x7bff ? f16BitsToF32(lo + 1) : Infinity;
    const da = ax - a;
    const db = b - ax;
    y = da < db || (da === db && (lo & 1) === 0) ? a : b;
  }
  return x < 0 || Object.is(x, -0) ? -y : y;
}

const word = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 12 })
  .filter((w) => !w.includes('\n'));

function tableArb(value: fc.Arbitrary<number>) {
  return fc
    .record({
      words: fc.uniqueArray(word, { minLength: 0, maxLength: 20 }),
      dim: fc.integer({ min: 1, max: 16 }),
    })
    .chain(({ words, dim }) =>
      fc
        .array(value, { minLength: words.length * dim, maxLength: words.length * dim })
        .map((values) => ({ words, dim, vectors: Float32Array.from(values) })),
    );
}

const f16Value = fc.oneof(
  fc.float({ noNaN: true, min: -4, max: 4 }),
  fc.float({ noNaN: true, min: -F16_MAX, max: F16_MAX }),
  fc.constantFrom(0, -0, 2 ** -24, -(2 ** -25), 2 ** -14, 65504, -65504, 1e-7),
);
const anyFinite = fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.float({ noNaN: true, min: -4, max: 4 }));

function validBytes(encoding: EmbeddingEncoding = 'f16'): Uint8Array {
  return encodeEmbeddings(
    { words: ['alpha', 'beta', 'γάμμα'], dim: 2, vectors: [1, -2, 0.5, 0.25, 3, -0.125] },
    { encoding },
  );
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

// --- float16 ---------------------------------------------------------------

describe('float16 conversion', () => {
  it('round-trips every finite half exactly (exhaustive)', () => {
    const bad: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = f16BitsToF32(h);
      const isNaNBits = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaNBits ? !Number.isNaN(v) : f32ToF16Bits(v) !== h) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  it('rounds to the nearest half, ties to even', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (x) => {
        expect(f16BitsToF32(f32ToF16Bits(x))).toBe(referenceF16(x));
      }),
      { numRuns: 20_000 },
    );
  });

  it('handles exact ties and range edges', () => {
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie between 1 and 1+2^-10 → even (1)
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (1+2^-9)
    expect(f32ToF16Bits(2 ** -25)).toBe(0); // half the smallest subnormal → 0 (even)
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(2); // tie between 1 and 2 subnormal units → 2
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00);
    expect(f32ToF16Bits(-Infinity)).toBe(0xfc00);
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
  });
});

// --- round trip -------------------------------------------------------------

describe('encodeEmbeddings / decodeEmbeddings round trip', () => {
  it('f16: words and dim exact, values rounded to nearest half, deterministic', () => {
    fc.assert(
      fc.property(tableArb(f16Value), (t) => {
        const bytes = encodeEmbeddings(t, { encoding: 'f16' });
        expect(encodeEmbeddings(t, { encoding: 'f16' })).toEqual(bytes);
        expect(bytes[6]).toBe(1);
        const out = decodeEmbeddings(bytes);
        expect(out.words).toEqual(t.words);
        expect(out.dim).toBe(t.dim);
        expect(out.vectors.length).toBe(t.words.length * t.dim);
        for (let k = 0; k < t.vectors.length; k++) {
          const x = t.vectors[k]!;
          const y = out.vectors[k]!;
          expect(y).toBe(referenceF16(x));
          expect(Math.abs(y - x)).toBeLessThanOrEqual(2 ** -11 * Math.abs(x) + 2 ** -25);
        }
        // decoding then re-encoding is a fixed point
        expect(encodeEmbeddings(out, { encoding: 'f16' })).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('i8: words and dim exact, error at most half a quantisation step per row', () => {
    fc.assert(
      fc.property(tableArb(anyFinite), (t) => {
        const bytes = encodeEmbeddings(t, { encoding: 'i8' });
        expect(encodeEmbeddings(t, { encoding: 'i8' })).toEqual(bytes);
        expect(bytes[6]).toBe(2);
        const out = decodeEmbeddings(bytes);
        expect(out.words).toEqual(t.words);
        expect(out.dim).toBe(t.dim);
        expect(out.vectors.every(Number.isFinite)).toBe(true);
        for (let r = 0; r < t.words.length; r++) {
          const row = t.vectors.subarray(r * t.dim, (r + 1) * t.dim);
          const maxAbs = Math.max(...Array.from(row, Math.abs));
          for (let d = 0; d < t.dim; d++) {
            const err = Math.abs(out.vectors[r * t.dim + d]! - row[d]!);
            expect(err).toBeLessThanOrEqual((maxAbs / 254) * (1 + 1e-4) + 2 ** -120);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('decodes a Uint8Array that is a view into a larger buffer', () => {
    const bytes = validBytes();
    const big = new Uint8Array(bytes.length + 7);
    big.set(bytes, 3);
    const out = decodeEmbeddings(big.subarray(3, 3 + bytes.length));
    expect(out.words).toEqual(['alpha', 'beta', 'γάμμα']);
    expect(Array.from(out.vectors)).toEqual([1, -2, 0.5, 0.25, 3, -0.125]);
  });

  it('i8 keeps rows at the float32 extremes finite', () => {
    const max = 3.4028234663852886e38;
    const out = decodeEmbeddings(encodeEmbeddings({ words: ['x'], dim: 2, vectors: [max, -max] }, { encoding: 'i8' }));
    expect(out.vectors.every(Number.isFinite)).toBe(true);
    expect(Math.abs(out.vectors[0]! - max) / max).toBeLessThan(1e-6);
  });

  it('handles an empty table', () => {
    const bytes = encodeEmbeddings({ words: [], dim: 4, vectors: [] });
    expect(bytes.length).toBe(HEADER_BYTES);
    expect(decodeEmbeddings(bytes)).toEqual({ words: [], dim: 4, vectors: new Float32Array(0) });
  });
});

// --- errors -----------------------------------------------------------------

describe('decodeEmbeddings rejects bad input', () => {
  it('bad magic', () => {
    const bytes = validBytes();
    bytes[0] = 'X'.charCodeAt(0);
    expect(() => decodeEmbeddings(bytes)).toThrow(/bad magic "XTSE", expected "ATSE"/);
    expect(() => decodeEmbeddings(new TextEncoder().encode('PK\u0003\u0004 not an embedding file'))).toThrow(/bad magic/);
  });

  it('every truncation, for both encodings', () => {
    for (const enc of ['f16', 'i8'] as const) {
      const bytes = validBytes(enc);
      for (let n = 0; n < bytes.length; n++) {
        expect(() => decodeEmbeddings(bytes.subarray(0, n))).toThrow(/truncated/);
      }
    }
  });

  it('trailing bytes', () => {
    const bytes = validBytes();
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(() => decodeEmbeddings(longer)).toThrow(/1 unexpected trailing bytes/);
  });

  it('unsupported version or encoding', () => {
    const v = validBytes();
    v[4] = 2;
    expect(() => decodeEmbeddings(v)).toThrow(/unsupported version 2/);
    const e = validBytes();
    e[6] = 9;
    expect(() => decodeEmbeddings(e)).toThrow(/unknown encoding code 9/);
  });

  it('word block inconsistent with the header', () => {
    const bytes = validBytes();
    new DataView(bytes.buffer).setUint32(8, 2, true); // claims 2 words; the size check fires first
    expect(() => decodeEmbeddings(bytes)).toThrow(/truncated|trailing/);
    // A consistent size but a word block with a newline too many: "ab\ncd" as 3 words of dim 1 (f16)
    const w = encodeEmbeddings({ words: ['ab', 'cd', 'ef'], dim: 1, vectors: [1, 2, 3] });
    w[HEADER_BYTES + 6] = 0x0a; // "ab\ncd\nef" → "ab\ncd\n\nf": same 8 bytes, now 4 words
    expect(() => decodeEmbeddings(w)).toThrow(/word block holds 4 words, header says 3/);
    const dup = encodeEmbeddings({ words: ['ab', 'cd'], dim: 1, vectors: [1, 2] });
    dup[HEADER_BYTES + 3] = 'a'.charCodeAt(0);
    dup[HEADER_BYTES + 4] = 'b'.charCodeAt(0);
    expect(() => decodeEmbeddings(dup)).toThrow(/duplicate word "ab"/);
  });

  it('invalid UTF-8 in the word block', () => {
    const bytes = validBytes();
    bytes[HEADER_BYTES] = 0xff;
    expect(() => decodeEmbeddings(bytes)).toThrow(/not valid UTF-8/);
  });

  it('a float16 value that is not finite (found by a bug hunt: it decoded to NaN or ±Infinity)', () => {
    // 'ab', 'cd' of dim 1: the matrix follows the header and the 5-byte word block.
    for (const [bits, shown] of [[0x7e00, 'NaN'], [0x7c00, 'Infinity'], [0xfc00, '-Infinity']] as const) {
      const bytes = encodeEmbeddings({ words: ['ab', 'cd'], dim: 1, vectors: [1, 2] });
      new DataView(bytes.buffer).setUint16(HEADER_BYTES + 5 + 2, bits, true);
      expect(() => decodeEmbeddings(bytes)).toThrow(`embedding-format: row 1, element 0 is ${shown} (float16 bits 0x${bits.toString(16)}), not a finite number`);
    }
  });

  it('invalid int8 scale', () => {
    const bytes = validBytes('i8');
    new DataView(bytes.buffer).setFloat32(bytes.length - 4, NaN, true);
    expect(() => decodeEmbeddings(bytes)).toThrow(/row 2 has invalid scale NaN/);
    new DataView(bytes.buffer).setFloat32(bytes.length - 4, 3e38, true); // 127 · scale overflows float32
    expect(() => decodeEmbeddings(bytes)).toThrow(/row 2 has invalid scale/);
    new DataView(bytes.buffer).setFloat32(bytes.length - 4, -1, true);
    expect(() => decodeEmbeddings(bytes)).toThrow(/row 2 has invalid scale -1/);
  });

  it('an int8 value of -128, outside the ±127 the encoder writes (found by a mutation test: at the largest scale accepted it decoded to -Infinity)', () => {
    const bytes = validBytes('i8');
    const view = new DataView(bytes.buffer);
    // Row 2's scale, the largest whose 127 multiple float32 holds; its first value, -128.
    const scale = new Float32Array([3.4028234663852886e38 / 127]);
    while (!Number.isFinite(Math.fround(127 * scale[0]!))) new Uint32Array(scale.buffer)[0]! -= 1;
    view.setFloat32(bytes.length - 4, scale[0]!, true);
    expect(decodeEmbeddings(bytes).vectors.every(Number.isFinite)).toBe(true);
    view.setInt8(bytes.length - 12 - 2, -128);
    expect(() => decodeEmbeddings(bytes)).toThrow("embedding-format: row 2, element 0 is -128, outside the format's -127 to 127");
  });
});

describe('encodeEmbeddings rejects bad input', () => {
  const ok = { words: ['a', 'b'], dim: 2, vectors: [0, 1, 2, 3] };
  it.each([
    ['duplicate word', { ...ok, words: ['a', 'a'] }, /duplicate word "a"/],
    ['empty word', { ...ok, words: ['a', ''] }, /word 1 is empty/],
    ['newline in word', { ...ok, words: ['a', 'b\nc'] }, /contains a newline/],
    ['lone surrogate', { ...ok, words: ['a', '\ud800'] }, /lone surrogate/],
    ['wrong length', { ...ok, vectors: [0, 1, 2] }, /expected words.length × dim = 2 × 2 = 4/],
    ['bad dim', { ...ok, dim: 0, vectors: [] }, /dim must be a positive integer/],
    ['NaN', { ...ok, vectors: [0, 1, NaN, 3] }, /non-finite value NaN at row 1, column 0/],
    ['Infinity', { ...ok, vectors: [0, Infinity, 2, 3] }, /non-finite value Infinity at row 0, column 1/],
    ['beyond float16', { ...ok, vectors: [0, 1, 2, 70000] }, /out of float16 range/],
  ])('%s', (_name, input, message) => {
    expect(() => encodeEmbeddings(input)).toThrow(message);
  });

  it('int8 accepts values beyond the float16 range', () => {
    const out = decodeEmbeddings(encodeEmbeddings({ ...ok, vectors: [0, 1, 2, 70000] }, { encoding: 'i8' }));
    expect(out.vectors[3]).toBeCloseTo(70000, 1);
  });
});

// --- the shipped data file ---------------------------------------------------

describe('data/embeddings-20k.bin', () => {
  const bytes = new Uint8Array(readFileSync(DATA_FILE));
  const table = decodeEmbeddings(bytes);
  const index = new Map(table.words.map((w, i) => [w, i]));
  const vec = (w: string): Float32Array => {
    const i = index.get(w);
    if (i === undefined) throw new Error(`missing ${w}`);
    return table.vectors.subarray(i * table.dim, (i + 1) * table.dim);
  };

  it('is a compact float16 table of 20,000 × 100', () => {
    expect(bytes.length).toBeLessThanOrEqual(5 * 1024 * 1024);
    expect(bytes[6]).toBe(1);
    expect(table.words.length).toBe(20_000);
    expect(table.dim).toBe(100);
    expect(table.vectors.length).toBe(20_000 * 100);
    expect(index.size).toBe(20_000);
    expect(table.vectors.every(Number.isFinite)).toBe(true);
    expect(table.words.slice(0, 4)).toEqual(['the', ',', '.', 'of']); // GloVe frequency order
    expect(table.words.every((w) => w === w.toLowerCase())).toBe(true);
  });

  it('contains every word of the two example sentences', () => {
    const sentences = [
      'The dog ran around the park because it was excited',
      'The dog ran around the park because it was open',
    ];
    for (const w of sentences.flatMap((s) => s.toLowerCase().split(/\s+/))) {
      expect(index.has(w), w).toBe(true);
    }
  });

  it('keeps semantic neighbourhoods (sanity check)', () => {
    expect(cosine(vec('dog'), vec('cat'))).toBeGreaterThan(0.8);
    expect(cosine(vec('dog'), vec('cat'))).toBeGreaterThan(cosine(vec('dog'), vec('percent')) + 0.5);
    expect(cosine(vec('excited'), vec('thrilled'))).toBeGreaterThan(cosine(vec('excited'), vec('open')));
  });
});
