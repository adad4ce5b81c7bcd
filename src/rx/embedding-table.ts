import type { Vector } from '../attention/index.js';
import { copyClaimed, vectorLength } from '../attention/vector.js';
import { AttentionError, describeValue, quoted, shownValue } from '../errors.js';

/**
 * How an {@link EmbeddingTable} matches tokens and what it does with unknown ones. Checked when the
 * table is built, as the engine's options are: a key other than these two, a `lowercase` that is
 * not a boolean or a `fallback` that is not an array of numbers is refused with INVALID_OPTION
 * naming it, so a typo such as `lowerCase` cannot silently give a case-sensitive table.
 *
 * @example
 * ```ts
 * import { EmbeddingTable } from 'attnstream/rx';
 * import type { EmbeddingTableOptions } from 'attnstream/rx';
 * const options: EmbeddingTableOptions = { lowercase: true, fallback: [0, 0] };
 * const table = EmbeddingTable.fromArrays(['The', 'dog'], [[1, 0], [0, 1]], options);
 * console.log(table.lookup('THE'), table.lookup('cat')); // Float32Array [1, 0] Float32Array [0, 0]
 * ```
 */
export interface EmbeddingTableOptions {
  /**
   * Fold case: the table's words and every looked-up word go through `String.prototype.toLowerCase`
   * (locale-independent), so `"The"` finds `"the"`. Default false: a word matches only itself, byte
   * for byte — no trimming, no Unicode normalisation.
   */
  readonly lowercase?: boolean | undefined;
  /**
   * The vector an unknown word gets (dim numbers). Default: none, and an unknown word throws
   * UNKNOWN_TOKEN. Token ids out of range throw OUT_OF_RANGE either way: they are a bug, not a
   * word the vocabulary lacks.
   */
  readonly fallback?: Vector | undefined;
}

/**
 * A vocabulary and its embedding matrix: word → vector. Rows are stored once, as float32, in one
 * row-major matrix (the layout of GloVe files and of {@link decodeEmbeddings}), and validated when
 * the table is built, so a lookup cannot return a bad number.
 *
 * Matching rules: a string token is looked up exactly (or lower-cased with `lowercase: true`); a
 * number token is a row index, the token id of a tokenizer that already numbered the words. Split
 * text into words with {@link tokenize}.
 *
 * @example
 * ```ts
 * import { EmbeddingTable } from 'attnstream/rx';
 * const table = EmbeddingTable.fromMap(new Map([['the', [1, 0]], ['dog', [0, 1]]]), { lowercase: true });
 * table.lookup('The'); // Float32Array [1, 0]
 * table.lookup(1);     // Float32Array [0, 1]: row 1, "dog"
 * ```
 */
export class EmbeddingTable {
  /** Numbers per vector. */
  readonly dim: number;
  /** The vocabulary in row order, as matched (lower-cased with `lowercase`). */
  readonly words: readonly string[];
  /** Whether lookups fold case. */
  readonly lowercase: boolean;
  private readonly matrix: Float32Array;
  private readonly rows: ReadonlyMap<string, number>;
  private readonly fallback: Float32Array | null;

  private constructor(words: readonly string[], matrix: ArrayLike<number>, dim: number, options: EmbeddingTableOptions) {
    if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1) {
      throw new AttentionError('INVALID_ARGUMENT', `EmbeddingTable: dim must be a positive integer, got ${describeValue(dim)}`, { field: 'dim', actual: shownValue(dim) });
    }
    if (!Array.isArray(words)) throw new AttentionError('INVALID_ARGUMENT', 'EmbeddingTable: words must be an array of strings', { field: 'words' });
    checkOptions(options);
    const lowercase = options.lowercase ?? false;
    const rows = new Map<string, number>();
    const matched: string[] = [];
    for (let r = 0; r < words.length; r++) {
      const word: unknown = words[r];
      if (typeof word !== 'string' || word.length === 0) {
        throw new AttentionError('INVALID_ARGUMENT', `EmbeddingTable: word ${r} must be a non-empty string, got ${shown(word)}`, {
          field: 'words',
          element: r,
        });
      }
      const key = lowercase ? word.toLowerCase() : word;
      const earlier = rows.get(key);
      if (earlier !== undefined) {
        throw new AttentionError(
          'INVALID_ARGUMENT',
          `EmbeddingTable: words ${earlier} and ${r} both match ${quoted(key)}${lowercase ? ' once lower-cased' : ''}`,
          { field: 'words', element: r },
        );
      }
      rows.set(key, r);
      matched.push(key);
    }
    this.dim = dim;
    this.words = Object.freeze(matched);
    this.lowercase = lowercase;
    this.rows = rows;
    this.matrix = float32Copy(matrix, words.length * dim, 'vectors', (i) => `row ${Math.floor(i / dim)} (${quoted(matched[Math.floor(i / dim)]!)}), column ${i % dim}`);
    this.fallback = options.fallback === undefined ? null : float32Copy(options.fallback, dim, 'fallback', (i) => `element ${i}`);
  }

  /**
   * A table from a row-major matrix of `words.length × dim` numbers: the shape a decoded embedding
   * file has, so the shipped GloVe table goes straight in
   * (`const { words, dim, vectors } = decodeEmbeddings(bytes)`, see {@link decodeEmbeddings}).
   * The matrix is copied.
   *
   * @throws AttentionError INVALID_ARGUMENT for a bad dim, an empty or repeated word;
   *   INVALID_OPTION for an unknown option or a mistyped one, naming it; DIMENSION_MISMATCH when
   *   the matrix or fallback has the wrong length; NON_FINITE naming the row and column of a NaN,
   *   an infinity or a value beyond float32.
   * @example
   * ```ts
   * import { EmbeddingTable } from 'attnstream/rx';
   * const table = EmbeddingTable.fromMatrix(['yes', 'no'], new Float32Array([1, 0, 0, 1]), 2);
   * console.log(table.lookup('no')); // Float32Array [0, 1]
   * ```
   */
  static fromMatrix(words: readonly string[], vectors: ArrayLike<number>, dim: number, options: EmbeddingTableOptions = {}): EmbeddingTable {
    return new EmbeddingTable(words, vectors, dim, options);
  }

  /**
   * A table from parallel arrays: `vectors[i]` is the vector of `words[i]`; dim is their length.
   *
   * @throws AttentionError as {@link EmbeddingTable.fromMatrix}, and INVALID_ARGUMENT for no words
   *   (dim cannot be told) or arrays of different lengths; DIMENSION_MISMATCH for a vector whose
   *   length differs from the first's.
   * @example
   * ```ts
   * import { EmbeddingTable } from 'attnstream/rx';
   * const table = EmbeddingTable.fromArrays(['yes', 'no'], [[1, 0], [0, 1]]);
   * ```
   */
  static fromArrays(words: readonly string[], vectors: readonly Vector[], options: EmbeddingTableOptions = {}): EmbeddingTable {
    if (!Array.isArray(words)) throw new AttentionError('INVALID_ARGUMENT', `EmbeddingTable.fromArrays: words must be an array of strings, got ${describeValue(words)}`, { field: 'words' });
    if (!Array.isArray(vectors)) throw new AttentionError('INVALID_ARGUMENT', `EmbeddingTable.fromArrays: vectors must be an array of vectors, got ${describeValue(vectors)}`, { field: 'vectors' });
    if (words.length !== vectors.length) {
      throw new AttentionError('INVALID_ARGUMENT', `EmbeddingTable.fromArrays: expected two arrays of the same length, got ${words.length} words and ${vectors.length} vectors`, {
        field: 'vectors',
        expected: words.length,
        actual: vectors.length,
      });
    }
    return EmbeddingTable.fromRows('fromArrays', words, vectors, options);
  }

  /**
   * A table from a map word → vector, in the map's iteration order (which becomes the row order).
   *
   * @throws AttentionError as {@link EmbeddingTable.fromArrays}.
   * @example
   * ```ts
   * import { EmbeddingTable } from 'attnstream/rx';
   * const table = EmbeddingTable.fromMap(new Map([['yes', [1, 0]], ['no', [0, 1]]]));
   * ```
   */
  static fromMap(entries: ReadonlyMap<string, Vector>, options: EmbeddingTableOptions = {}): EmbeddingTable {
    if (!(entries instanceof Map)) throw new AttentionError('INVALID_ARGUMENT', 'EmbeddingTable.fromMap: expected a Map of word → vector', { field: 'entries' });
    return EmbeddingTable.fromRows('fromMap', [...entries.keys()], [...entries.values()], options);
  }

  /** fromArrays and fromMap once their input is two arrays of the same length; `method` names the caller's call in errors. */
  private static fromRows(method: string, words: readonly string[], vectors: readonly Vector[], options: EmbeddingTableOptions): EmbeddingTable {
    if (vectors.length === 0) {
      throw new AttentionError('INVALID_ARGUMENT', `EmbeddingTable.${method}: no words, so dim cannot be told; use fromMatrix(words, vectors, dim)`, { field: 'words' });
    }
    const dim = vectorLength(vectors[0]);
    if (dim === undefined || dim < 1) {
      throw new AttentionError('INVALID_ARGUMENT', `EmbeddingTable: vector 0 (${shown(words[0])}) must be a non-empty array of numbers`, { field: 'vectors', element: 0 });
    }
    // Every row's length first, then the numbers (a wrong length is named before a bad number).
    for (let r = 0; r < vectors.length; r++) {
      const vector = vectors[r]!;
      const length = vectorLength(vector);
      if (length === undefined) {
        throw new AttentionError('INVALID_ARGUMENT', `EmbeddingTable: vector ${r} (${shown(words[r])}) must be an array of numbers, got ${describeValue(vector)}`, { field: 'vectors', element: r });
      }
      if (length !== dim) {
        throw new AttentionError('DIMENSION_MISMATCH', `EmbeddingTable: vector ${r} (${shown(words[r])}) has ${length} numbers, vector 0 has ${dim}`, {
          field: 'vectors',
          element: r,
          expected: dim,
          actual: length,
        });
      }
    }
    // Grown as numbers are read, each a number or refused there: dim is only what vector 0 says its
    // length is, and { length: 2 ** 28 } with no numbers asked for gigabytes (a resource hunt: the
    // process died). Whether each fits float32 the constructor checks, naming the word as matched.
    const matrix: number[] = [];
    const where = (i: number): string => `row ${Math.floor(i / dim)} (${shown(words[Math.floor(i / dim)])}), column ${i % dim}`;
    for (let r = 0; r < vectors.length; r++) {
      const vector = vectors[r]!;
      for (let c = 0; c < dim; c++) {
        const value = vector[c];
        if (typeof value !== 'number') notFloat32(value, 'vectors', r * dim + c, where);
        matrix.push(value);
      }
    }
    return new EmbeddingTable(words, matrix, dim, options);
  }

  /** Number of words. */
  get size(): number {
    return this.words.length;
  }

  /** Whether `word` is in the vocabulary (after case folding with `lowercase`); the fallback does not count. */
  has(word: string): boolean {
    return this.rows.has(this.key(word));
  }

  /** The row of `word`, or -1 when it is not in the vocabulary. */
  indexOf(word: string): number {
    return this.rows.get(this.key(word)) ?? -1;
  }

  /**
   * The vector of a word, or of a row index; a fresh array each call, so changing it cannot change
   * the table. `position`, the token's place in a stream, only serves to name it in errors.
   *
   * @throws AttentionError UNKNOWN_TOKEN for a word not in the vocabulary when there is no
   *   fallback; OUT_OF_RANGE for a row index outside `[0, size)`; INVALID_ARGUMENT for anything but
   *   a string or an integer.
   * @example
   * ```ts
   * import { EmbeddingTable } from 'attnstream/rx';
   * const table = EmbeddingTable.fromArrays(['yes'], [[1, 0]], { fallback: [0, 0] });
   * table.lookup('yes'); // Float32Array [1, 0]
   * table.lookup('maybe'); // Float32Array [0, 0], the fallback
   * ```
   */
  lookup(token: string | number, position?: number): Float32Array {
    // A position is the embed operator's count, but callers may pass anything: shown, not stringified.
    const where = position === undefined ? 'lookup' : `lookup at token ${describeValue(position)}`;
    const at = typeof position === 'number' ? { token: position } : {};
    if (typeof token === 'number') {
      if (!Number.isInteger(token)) {
        throw new AttentionError('INVALID_ARGUMENT', `${where}: a numeric token is a row index and must be an integer, got ${token}`, { field: 'token', ...at, actual: token });
      }
      if (token < 0 || token >= this.size) {
        throw new AttentionError('OUT_OF_RANGE', `${where}: row ${token} is outside the table's ${this.size} rows`, {
          field: 'token',
          ...at,
          expected: `0..${this.size - 1}`,
          actual: token,
        });
      }
      return this.row(token);
    }
    if (typeof token !== 'string') {
      throw new AttentionError('INVALID_ARGUMENT', `${where}: expected a word or a row index, got ${describeValue(token)}`, { field: 'token', ...at, actual: describeValue(token) });
    }
    const r = this.rows.get(this.key(token));
    if (r !== undefined) return this.row(r);
    if (this.fallback !== null) return this.fallback.slice();
    throw new AttentionError(
      'UNKNOWN_TOKEN',
      `${where}: ${quoted(token)} is not among the table's ${this.size} words (${this.lowercase ? 'lower-cased' : 'exact'} match, no fallback)`,
      { field: 'token', ...at, actual: token },
    );
  }

  /** `word` as the table's key; a non-string (an untyped caller's) stays itself and matches no word. */
  private key(word: string): string {
    return this.lowercase && typeof word === 'string' ? word.toLowerCase() : word;
  }

  private row(r: number): Float32Array {
    return this.matrix.slice(r * this.dim, (r + 1) * this.dim);
  }
}

const KNOWN_OPTIONS: readonly (keyof EmbeddingTableOptions)[] = ['lowercase', 'fallback'];

/** Refuses options the table would otherwise misread: a typo'd key is ignored silently, a truthy string is not `true`. */
function checkOptions(options: EmbeddingTableOptions): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) invalidOption('options', `must be an object { ${KNOWN_OPTIONS.join(', ')} }, got ${shown(options)}`);
  for (const key of Object.keys(options)) {
    if (!(KNOWN_OPTIONS as readonly string[]).includes(key)) invalidOption(key, `is not an option (known: ${KNOWN_OPTIONS.join(', ')})`);
  }
  const { lowercase, fallback } = options;
  if (lowercase !== undefined && typeof lowercase !== 'boolean') invalidOption('lowercase', `must be true or false, got ${shown(lowercase)}`);
  // The numbers themselves are checked with the rows (length, finiteness); here only the shape.
  if (fallback !== undefined && vectorLength(fallback) === undefined) {
    invalidOption('fallback', `must be an array of numbers, got ${shown(fallback)}`);
  }
}

function invalidOption(field: string, rule: string): never {
  throw new AttentionError('INVALID_OPTION', `EmbeddingTable: ${field} ${rule}`, { field });
}

function shown(value: unknown): string {
  return typeof value === 'string' ? quoted(value) : value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : String(value);
}

/** Copies `values` into a new Float32Array after checking its length and that each number survives float32 ({@link copyClaimed}). */
function float32Copy(values: ArrayLike<number>, expected: number, field: string, where: (i: number) => string): Float32Array {
  const length = vectorLength(values);
  if (length === undefined) throw new AttentionError('INVALID_ARGUMENT', `EmbeddingTable: ${field} must be an array of numbers, got ${describeValue(values)}`, { field });
  if (length !== expected) {
    throw new AttentionError('DIMENSION_MISMATCH', `EmbeddingTable: ${field} must hold ${expected} numbers, got ${length}`, { field, expected, actual: length });
  }
  return copyClaimed(values, expected, Float32Array, (value, i) => notFloat32(value, field, i, where)) as Float32Array;
}

/** NON_FINITE naming element `i` of `field` (by `where`): `value` is not a number finite in float32. */
function notFloat32(value: unknown, field: string, i: number, where: (i: number) => string): never {
  throw new AttentionError('NON_FINITE', `EmbeddingTable: ${field} ${where(i)} is ${describeValue(value)}, expected a number that is finite in float32`, {
    field,
    element: i,
    actual: shownValue(value),
  });
}

