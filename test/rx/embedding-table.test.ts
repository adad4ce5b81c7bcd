import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AttentionError } from '../../src/index.js';
import { decodeEmbeddings, EmbeddingTable, tokenize } from '../../src/rx/index.js';
import type { EmbeddingTableOptions } from '../../src/rx/index.js';

const words = ['the', 'dog', 'ran'];
const rows = [
  [1, 0, 0.5],
  [0, 2, -1],
  [0.25, 0.25, 3],
];

function expectRefusal(build: () => unknown, code: string, details: object, message?: RegExp): AttentionError {
  let thrown: unknown;
  try {
    build();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(AttentionError);
  expect(thrown).toMatchObject({ code, details });
  if (message !== undefined) expect((thrown as Error).message).toMatch(message);
  return thrown as AttentionError;
}

describe('EmbeddingTable: three ways to build the same table', () => {
  const tables = {
    fromArrays: () => EmbeddingTable.fromArrays(words, rows),
    fromMap: () => EmbeddingTable.fromMap(new Map(words.map((w, i) => [w, rows[i]!]))),
    fromMatrix: () => EmbeddingTable.fromMatrix(words, new Float32Array(rows.flat()), 3),
  };

  for (const [name, build] of Object.entries(tables)) {
    it(`${name}: each word and each row index gives its vector, as float32`, () => {
      const table = build();
      expect(table.dim).toBe(3);
      expect(table.size).toBe(3);
      expect(table.words).toEqual(words);
      words.forEach((word, i) => {
        expect(table.lookup(word)).toEqual(Float32Array.from(rows[i]!));
        expect(table.lookup(i)).toEqual(Float32Array.from(rows[i]!));
        expect(table.indexOf(word)).toBe(i);
        expect(table.has(word)).toBe(true);
      });
    });
  }

  it('for random vocabularies the three constructions agree on every lookup', () => {
    const vocabulary = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(
        vocabulary.chain((ws) =>
          fc.integer({ min: 1, max: 5 }).chain((dim) =>
            fc.array(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: dim, maxLength: dim }), { minLength: ws.length, maxLength: ws.length }).map((vs) => ({ ws, dim, vs })),
          ),
        ),
        ({ ws, dim, vs }) => {
          const built = [
            EmbeddingTable.fromArrays(ws, vs),
            EmbeddingTable.fromMap(new Map(ws.map((w, i) => [w, vs[i]!]))),
            EmbeddingTable.fromMatrix(ws, vs.flat(), dim),
          ];
          for (const table of built) ws.forEach((w, i) => expect(Array.from(table.lookup(w))).toEqual(vs[i]));
        },
      ),
    );
  });
});

describe('EmbeddingTable: matching rules', () => {
  it('matches exactly by default: case, spaces and Unicode forms all count', () => {
    const table = EmbeddingTable.fromArrays(['the', 'café'], [[1], [2]]);
    expect(table.has('The')).toBe(false);
    expect(table.has(' the')).toBe(false);
    expect(table.has('cafe\u0301')).toBe(false); // the same word, decomposed
    expect(table.indexOf('THE')).toBe(-1);
  });

  it('with lowercase: true, table words and looked-up words are both lower-cased', () => {
    const table = EmbeddingTable.fromArrays(['The', 'DOG'], [[1], [2]], { lowercase: true });
    expect(table.words).toEqual(['the', 'dog']);
    expect(Array.from(table.lookup('tHe'))).toEqual([1]);
    expect(Array.from(table.lookup('dog'))).toEqual([2]);
  });

  it('with lowercase: true, two words that fold together are refused, naming both rows', () => {
    expectRefusal(() => EmbeddingTable.fromArrays(['Dog', 'the', 'dog'], [[1], [2], [3]], { lowercase: true }), 'INVALID_ARGUMENT', { field: 'words', element: 2 }, /words 0 and 2 both match "dog" once lower-cased/);
  });

  it('an unknown word throws UNKNOWN_TOKEN with the word; a stream position names the token', () => {
    const table = EmbeddingTable.fromArrays(words, rows);
    expectRefusal(() => table.lookup('cat'), 'UNKNOWN_TOKEN', { field: 'token', actual: 'cat' }, /"cat" is not among the table's 3 words \(exact match/);
    expectRefusal(() => table.lookup('cat', 7), 'UNKNOWN_TOKEN', { field: 'token', token: 7, actual: 'cat' }, /at token 7/);
  });

  it('a fallback vector answers unknown words, but not row indices out of range', () => {
    const table = EmbeddingTable.fromArrays(words, rows, { fallback: [9, 9, 9] });
    expect(Array.from(table.lookup('cat'))).toEqual([9, 9, 9]);
    expect(table.has('cat')).toBe(false);
    expectRefusal(() => table.lookup(3), 'OUT_OF_RANGE', { field: 'token', expected: '0..2', actual: 3 });
    expectRefusal(() => table.lookup(-1), 'OUT_OF_RANGE', { actual: -1 });
  });

  it('row indices must be integers; other token types are refused', () => {
    const table = EmbeddingTable.fromArrays(words, rows);
    expectRefusal(() => table.lookup(1.5), 'INVALID_ARGUMENT', { field: 'token', actual: 1.5 });
    expectRefusal(() => table.lookup(null as unknown as string), 'INVALID_ARGUMENT', { field: 'token' }, /got null/);
    // With actual, as errors.md lists (found by a docs audit: it was missing).
    expectRefusal(() => table.lookup(true as unknown as string), 'INVALID_ARGUMENT', { field: 'token', actual: 'true (a boolean)' }, /got true \(a boolean\)/);
  });

  it('every lookup returns a fresh array: writing into it changes neither the table nor the fallback', () => {
    const table = EmbeddingTable.fromArrays(words, rows, { fallback: [0, 0, 0] });
    table.lookup('dog').fill(100);
    table.lookup('cat').fill(100);
    expect(Array.from(table.lookup('dog'))).toEqual([0, 2, -1]);
    expect(Array.from(table.lookup('cat'))).toEqual([0, 0, 0]);
  });

  it('copies its input: changing the source matrix afterwards changes nothing', () => {
    const matrix = new Float32Array(rows.flat());
    const table = EmbeddingTable.fromMatrix(words, matrix, 3);
    matrix.fill(7);
    expect(Array.from(table.lookup('the'))).toEqual([1, 0, 0.5]);
  });
});

describe('EmbeddingTable: refusals at construction', () => {
  it('a matrix of the wrong size', () => {
    expectRefusal(() => EmbeddingTable.fromMatrix(words, new Float32Array(8), 3), 'DIMENSION_MISMATCH', { field: 'vectors', expected: 9, actual: 8 });
  });

  it('a bad dim', () => {
    for (const dim of [0, -1, 2.5, NaN]) expectRefusal(() => EmbeddingTable.fromMatrix([], [], dim), 'INVALID_ARGUMENT', { field: 'dim' });
  });

  it('a non-finite number or one beyond float32, naming the word, row and column', () => {
    expectRefusal(() => EmbeddingTable.fromArrays(words, [rows[0]!, [0, NaN, 1], rows[2]!]), 'NON_FINITE', { field: 'vectors', element: 4 }, /row 1 \("dog"\), column 1 is NaN/);
    expectRefusal(() => EmbeddingTable.fromArrays(['x'], [[1e39]]), 'NON_FINITE', { element: 0 }, /finite in float32/);
    expectRefusal(() => EmbeddingTable.fromArrays(['x'], [['1' as unknown as number]]), 'NON_FINITE', { element: 0 });
  });

  it('empty, non-string or repeated words', () => {
    expectRefusal(() => EmbeddingTable.fromArrays(['a', ''], [[1], [2]]), 'INVALID_ARGUMENT', { field: 'words', element: 1 });
    expectRefusal(() => EmbeddingTable.fromMatrix([3 as unknown as string], [1], 1), 'INVALID_ARGUMENT', { field: 'words', element: 0 });
    expectRefusal(() => EmbeddingTable.fromArrays(['a', 'b', 'a'], [[1], [2], [3]]), 'INVALID_ARGUMENT', { element: 2 }, /words 0 and 2 both match "a"/);
  });

  it('parallel arrays of different lengths, ragged vectors, or no words at all', () => {
    expectRefusal(() => EmbeddingTable.fromArrays(['a', 'b'], [[1]]), 'INVALID_ARGUMENT', { expected: 2, actual: 1 });
    expectRefusal(() => EmbeddingTable.fromArrays(['a', 'b'], [[1, 2], [3]]), 'DIMENSION_MISMATCH', { element: 1, expected: 2, actual: 1 });
    expectRefusal(() => EmbeddingTable.fromArrays([], []), 'INVALID_ARGUMENT', { field: 'words' }, /^EmbeddingTable\.fromArrays: no words, so dim cannot be told; use fromMatrix/);
    // The message names the method the caller called, not the one it delegates to.
    expectRefusal(() => EmbeddingTable.fromMap(new Map()), 'INVALID_ARGUMENT', { field: 'words' }, /^EmbeddingTable\.fromMap: no words, so dim cannot be told; use fromMatrix/);
    expectRefusal(() => EmbeddingTable.fromArrays(['a'], [[]]), 'INVALID_ARGUMENT', { field: 'vectors', element: 0 });
  });

  it('a fallback of the wrong length or with a NaN', () => {
    expectRefusal(() => EmbeddingTable.fromArrays(words, rows, { fallback: [0, 0] }), 'DIMENSION_MISMATCH', { field: 'fallback', expected: 3, actual: 2 });
    expectRefusal(() => EmbeddingTable.fromArrays(words, rows, { fallback: [0, NaN, 0] }), 'NON_FINITE', { field: 'fallback', element: 1 });
    // A string shows as one, not as the number it reads like (found by a bug hunt).
    expectRefusal(() => EmbeddingTable.fromArrays(words, rows, { fallback: [0, '0', 0] as unknown as number[] }), 'NON_FINITE', { field: 'fallback', element: 1 }, /element 1 is "0" \(a string\)/);
  });

  it('has and indexOf answer no for a word that is not a string, with lowercase too (an untyped caller)', () => {
    const folded = EmbeddingTable.fromArrays(['a'], [[1]], { lowercase: true });
    expect([folded.has(1 as unknown as string), folded.indexOf(null as unknown as string)]).toEqual([false, -1]);
  });

  it('an unknown option key, such as a mistyped lowercase, is refused with INVALID_OPTION naming it and the known keys', () => {
    for (const key of ['lowerCase', 'fallBack', 'caseSensitive']) {
      const options = { [key]: true } as EmbeddingTableOptions;
      expectRefusal(() => EmbeddingTable.fromArrays(words, rows, options), 'INVALID_OPTION', { field: key }, new RegExp(`${key} is not an option \\(known: lowercase, fallback\\)`));
      expectRefusal(() => EmbeddingTable.fromMatrix(words, rows.flat(), 3, options), 'INVALID_OPTION', { field: key });
      expectRefusal(() => EmbeddingTable.fromMap(new Map([['a', [1]]]), options), 'INVALID_OPTION', { field: key });
    }
  });

  it('a lowercase that is not a boolean is refused, whatever its truthiness', () => {
    for (const lowercase of ['yes', 'false', 1, 0, null, {}]) {
      expectRefusal(() => EmbeddingTable.fromArrays(words, rows, { lowercase } as unknown as EmbeddingTableOptions), 'INVALID_OPTION', { field: 'lowercase' }, /lowercase must be true or false/);
    }
  });

  it('a fallback that is not an array of numbers, or options that are not an object, are refused', () => {
    for (const fallback of [0, 'zero', null, { x: 1 }]) {
      expectRefusal(() => EmbeddingTable.fromArrays(words, rows, { fallback } as unknown as EmbeddingTableOptions), 'INVALID_OPTION', { field: 'fallback' }, /fallback must be an array of numbers/);
    }
    for (const options of [null, true, 'lowercase', [true]]) {
      expectRefusal(() => EmbeddingTable.fromArrays(words, rows, options as unknown as EmbeddingTableOptions), 'INVALID_OPTION', { field: 'options' });
    }
  });

  it('options given as undefined fields are the defaults', () => {
    const table = EmbeddingTable.fromArrays(words, rows, { lowercase: undefined, fallback: undefined });
    expect(table.lowercase).toBe(false);
    expectRefusal(() => table.lookup('cat'), 'UNKNOWN_TOKEN', { actual: 'cat' });
  });

  it('a vector that only claims a length is refused at its first missing number, before room for the rest is made', () => {
    // Found by a resource hunt: fromArrays made room for vectors.length × the claimed dim, then
    // copied, before any number was checked ({ length: 2 ** 28 }, 22 bytes of JSON, killed the
    // process); fromMatrix threw a RangeError for 2 ** 40, and made 256 MiB for 2 ** 26.
    const grown = (build: () => unknown): AttentionError => {
      const before = process.memoryUsage();
      let error: unknown;
      try {
        build();
      } catch (e) {
        error = e;
      }
      const after = process.memoryUsage();
      expect(after.heapUsed - before.heapUsed).toBeLessThan(64 * 2 ** 20);
      expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(64 * 2 ** 20);
      expect(error).toBeInstanceOf(AttentionError);
      return error as AttentionError;
    };
    const claim = { length: 2 ** 26 } as unknown as number[];
    expect(grown(() => EmbeddingTable.fromArrays(['a'], [claim]))).toMatchObject({ code: 'NON_FINITE', message: 'EmbeddingTable: vectors row 0 ("a"), column 0 is undefined, expected a number that is finite in float32' });
    expect(grown(() => EmbeddingTable.fromMap(new Map([['a', claim]])))).toMatchObject({ code: 'NON_FINITE', details: { element: 0 } });
    expect(grown(() => EmbeddingTable.fromMatrix(['a'], claim, 2 ** 26))).toMatchObject({ code: 'NON_FINITE', details: { element: 0 } });
    expect(grown(() => EmbeddingTable.fromMatrix(['a'], { length: 2 ** 40 } as unknown as number[], 2 ** 40))).toMatchObject({ code: 'NON_FINITE', details: { element: 0 } });
    // A real array or typed array is copied whole, and a bad number deep in it still named.
    const long = Array.from({ length: 200_000 }, (_, i) => i % 7);
    long[150_001] = Number.NaN;
    expect(() => EmbeddingTable.fromMatrix(['a', 'b'], long, 100_000)).toThrow(expect.objectContaining({ code: 'NON_FINITE', message: expect.stringContaining('row 1 ("b"), column 50001 is NaN') }));
    long[150_001] = 3;
    expect(Array.from(EmbeddingTable.fromMatrix(['a', 'b'], long, 100_000).lookup('b'))).toEqual(long.slice(100_000));
  });

  it('something that is not an array is refused as such, naming it, with no NaN in the details', () => {
    // Found by an errors.md audit: each was a length problem with NaN for its length.
    const refused = (run: () => unknown, details: object) => {
      const error = expectRefusal(run, 'INVALID_ARGUMENT', details);
      expect(JSON.stringify(error.details)).not.toContain('null');
      expect(error.message).not.toContain('NaN');
    };
    refused(() => EmbeddingTable.fromArrays(null as never, [[1]]), { field: 'words' });
    refused(() => EmbeddingTable.fromArrays(['a'], null as never), { field: 'vectors' });
    refused(() => EmbeddingTable.fromArrays(['a', 'b'], [[1], null as never]), { field: 'vectors', element: 1 });
    refused(() => EmbeddingTable.fromMatrix(['a'], null as never, 1), { field: 'vectors' });
  });

  it('a long word is quoted cut to 60 characters in a message', () => {
    // Found by a resource hunt: an unknown 10 MB word was echoed whole.
    const long = 'w'.repeat(10_000_000);
    const table = EmbeddingTable.fromArrays(['yes'], [[1]]);
    expect(() => table.lookup(long)).toThrow(`lookup: "${'w'.repeat(60)}…" (of 10000000 characters) is not among the table's 1 words (exact match, no fallback)`);
    expect(() => EmbeddingTable.fromArrays([long, long], [[1], [2]])).toThrow(`EmbeddingTable: words 0 and 1 both match "${'w'.repeat(60)}…" (of 10000000 characters)`);
    expect(() => EmbeddingTable.fromArrays([long], [[Number.NaN]])).toThrow(`EmbeddingTable: vectors row 0 ("${'w'.repeat(60)}…" (of 10000000 characters)), column 0 is NaN, expected a number that is finite in float32`);
  });

  it('an empty vocabulary from a matrix is allowed: every word is unknown', () => {
    const table = EmbeddingTable.fromMatrix([], new Float32Array(0), 4, { fallback: [1, 2, 3, 4] });
    expect(table.size).toBe(0);
    expect(Array.from(table.lookup('anything'))).toEqual([1, 2, 3, 4]);
  });
});

describe('EmbeddingTable: the shipped GloVe table', () => {
  it('decodeEmbeddings output goes straight into fromMatrix, and every word of a tokenized sentence is found lower-cased', () => {
    const decoded = decodeEmbeddings(new Uint8Array(readFileSync(new URL('../../data/embeddings-20k.bin', import.meta.url))));
    const table = EmbeddingTable.fromMatrix(decoded.words, decoded.vectors, decoded.dim, { lowercase: true });
    expect(table.size).toBe(20_000);
    expect(table.dim).toBe(100);
    const row = decoded.words.indexOf('dog');
    expect(table.lookup('Dog')).toEqual(decoded.vectors.slice(row * 100, (row + 1) * 100));
    for (const word of tokenize('The dog ran around the park, because it was excited!')) expect(table.has(word)).toBe(true);
  });
});

describe('EmbeddingTable.lookup: mutation audit', () => {
  it('a position that is no number is shown in the message, never put in details.token', () => {
    const table = EmbeddingTable.fromArrays(words, rows);
    const error = expectRefusal(() => table.lookup('cat', 'seven' as never), 'UNKNOWN_TOKEN', { field: 'token', actual: 'cat' }, /at token "seven" \(a string\)/);
    expect(error.details).not.toHaveProperty('token');
  });
});
