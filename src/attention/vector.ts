import { AttentionError, describeValue, isTypedArrayWrapper, shownValue, TYPED_ARRAY_PROTOTYPE } from '../errors.js';
import { allFinite } from '../kernels/all-finite.js';
import type { FloatArray, FloatArrayConstructor } from '../kernels/index.js';
import type { WasmArena } from '../kernels/wasm/wasm-arena.js';

/**
 * Any list of numbers: `number[]`, `Float32Array`, `Float64Array`. Inputs are copied, so the
 * caller may reuse the array afterwards.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { Vector } from 'attnstream';
 * const attn = createAttention({ dim: 2 });
 * const tokens: Vector[] = [[1, 0], new Float32Array([0, 1]), new Float64Array([1, 1])];
 * console.log(attn.pushMany(tokens).length); // 3
 * ```
 */
export type Vector = ArrayLike<number>;

/**
 * Rows of numbers: a list of {@link Vector}s, or the rows one after another in one Float32Array or
 * Float64Array (as `Linear.applyMany` returns them, or a checkpoint tensor holds them), whose
 * length is then a whole number of rows.
 *
 * @example
 * ```ts
 * import { createAttention } from 'attnstream';
 * import type { VectorRows } from 'attnstream';
 * const prompt: VectorRows = Float32Array.of(1, 0, 0, 1, 1, 1); // three tokens of dim 2, flat
 * console.log(createAttention({ dim: 2 }).pushMany(prompt).length); // 3
 * ```
 */
export type VectorRows = readonly Vector[] | Float32Array | Float64Array;

/**
 * `rows` as a list: a flat Float32Array or Float64Array cut into views of `width` numbers (refused,
 * DIMENSION_MISMATCH naming `field`, unless its length is a whole number of rows); anything else
 * as it is, for the caller's own checks (a typed array's wrapper, a Proxy, is no flat array).
 */
export function rowsOf(rows: VectorRows, width: number, operation: string, field: string): readonly Vector[] {
  if (!isFlatRows(rows)) return rows as readonly Vector[];
  const length = lengthOf(rows) as number;
  if (length % width !== 0) {
    throw new AttentionError('DIMENSION_MISMATCH', `${operation}: ${length} numbers are not whole rows of ${width}`, { field, expected: `a multiple of ${width}`, actual: length });
  }
  // Views made here over the array's own memory: `subarray` would build them with a subclass's
  // constructor, the caller's code running in the middle of the call.
  const Base = rows instanceof Float32Array ? Float32Array : Float64Array;
  const buffer = typedArrayBuffer.call(rows) as ArrayBuffer;
  const offset = typedArrayByteOffset.call(rows) as number;
  return Array.from({ length: length / width }, (_, t) => new Base(buffer, offset + t * width * Base.BYTES_PER_ELEMENT, width));
}

/** Whether `rows` is rows given flat: a Float32Array or Float64Array itself (not a wrapper of one). */
export function isFlatRows(rows: unknown): rows is Float32Array | Float64Array {
  return ArrayBuffer.isView(rows) && (rows instanceof Float32Array || rows instanceof Float64Array);
}

/**
 * Whether every number of a row is finite: the engine's kernels' check (`WasmArena.allFinite`) or
 * the TypeScript loop.
 */
export type FiniteCheck = (row: FloatArray) => boolean;

/** The TypeScript {@link FiniteCheck}. */
const finiteInTypeScript: FiniteCheck = (row) => allFinite(row, 0, row.length);

/** The {@link FiniteCheck} of rows bound for `arena`'s kernels (their SIMD check), or the TypeScript one without an arena. */
export function finiteCheck(arena: WasmArena | null): FiniteCheck {
  return arena === null ? finiteInTypeScript : (row) => arena.allFinite(row);
}

/**
 * The first `n` rows of `xs` (its length as the caller read it, once: a Proxy's may change between
 * reads), each checked as {@link readVector} checks it (rows numbered from `first`), in one fresh
 * float64 array. Every row's shape is checked before the array is made, so a malformed list (a
 * sparse one of millions of holes) is refused as such, not by the allocation.
 */
export function readRows(xs: readonly Vector[], n: number, expected: number, field: string, first: number, finite: FiniteCheck, float32: boolean): Float64Array {
  for (let t = 0; t < n; t++) assertVectorShape(xs[t]!, expected, field, first + t);
  const x = new Float64Array(n * expected);
  for (let t = 0; t < n; t++) readVector(xs[t]!, expected, x, t * expected, field, first + t, finite, float32);
  return x;
}

/**
 * Checks that `x` is an array-like of `expected` numbers' length (its numbers are read later), so
 * a list of rows can be checked for shape before room is made for all of them.
 *
 * @throws AttentionError INVALID_ARGUMENT for a non-array, DIMENSION_MISMATCH for a wrong length.
 */
export function assertVectorShape(x: Vector, expected: number, field: string, token: number): void {
  const length = vectorLength(x);
  if (length === undefined) {
    throw new AttentionError('INVALID_ARGUMENT', `${field} at token ${token}: expected an array of ${expected} numbers, got ${describeValue(x)}`, {
      field,
      token,
      expected,
    });
  }
  if (length !== expected) {
    throw new AttentionError('DIMENSION_MISMATCH', `${field} at token ${token}: expected length ${expected}, got ${length}`, {
      field,
      token,
      expected,
      actual: length,
    });
  }
}

/**
 * A fresh `Float` array of the `length` numbers of `values`, every one finite as stored (a number
 * past ±3.4e38 becomes Infinity in a Float32Array); `refuse(value, i)` throws for the first that is
 * not. A typed array's length is memory it holds, so its copy is made at once; any other object's
 * length is only a claim (`{ length: 2 ** 40 }` is a few bytes of JSON), so its copy grows as its
 * numbers are read, and a claim without numbers is refused at its first missing one, not by the
 * allocation.
 */
export function copyClaimed(values: ArrayLike<unknown>, length: number, Float: FloatArrayConstructor, refuse: (value: unknown, i: number) => never): FloatArray {
  let out: FloatArray;
  // A typed array copied whole only when it holds exactly the numbers asked for: a subclass's
  // length may say otherwise, and is then read number by number as any other object.
  if ((values instanceof Float32Array || values instanceof Float64Array) && lengthOf(values) === length) {
    out = new Float(length);
    out.set(values);
  } else {
    out = new Float(Math.min(length, 2 ** 20));
    for (let from = 0; from < length; from = out.length) {
      if (from === out.length) {
        const grown = new Float(Math.min(length, 2 * from));
        grown.set(out);
        out = grown;
      }
      copyNumbers(values, from, out, refuse);
    }
  }
  if (!allFinite(out, 0, length)) {
    for (let i = 0; i < length; i++) if (!Number.isFinite(out[i]!)) refuse(values[i], i);
  }
  return out;
}

/** `values[from …]` into `out[from …]`, to its end: every one a number, or `refuse`d. */
function copyNumbers(values: ArrayLike<unknown>, from: number, out: FloatArray, refuse: (value: unknown, i: number) => never): void {
  for (let i = from; i < out.length; i++) {
    const value = values[i];
    // Checked before storing: a typed array would turn null into 0 and true into 1.
    if (typeof value !== 'number') refuse(value, i);
    out[i] = value;
  }
}

/** `%TypedArray%.prototype.length`'s getter: how many numbers a typed array holds, whatever a subclass's `length` says. */
const typedArrayLength = Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, 'length')!.get!;
/** `%TypedArray%.prototype`'s `buffer` and `byteOffset` getters, likewise. */
const typedArrayBuffer = Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, 'buffer')!.get!;
const typedArrayByteOffset = Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, 'byteOffset')!.get!;

/**
 * The length of `x` as it will be read: a typed array's own (copied whole by `set`, so a subclass
 * whose `length` said more or less would leave part of the row stale or overflow), none for a
 * typed array's wrapper ({@link isTypedArrayWrapper}), else `x.length`.
 */
export function lengthOf(x: Vector): unknown {
  if (ArrayBuffer.isView(x)) return x instanceof DataView ? undefined : (typedArrayLength.call(x) as number);
  return isTypedArrayWrapper(x) ? undefined : x.length;
}

/**
 * How many numbers `x` holds as an input ({@link lengthOf}), or undefined when it is not an array
 * of numbers at all: not an object, a typed array's wrapper, a length that is not a number.
 */
export function vectorLength(x: unknown): number | undefined {
  const length = x === null || typeof x !== 'object' ? undefined : lengthOf(x as Vector);
  return typeof length === 'number' ? length : undefined;
}

/**
 * Copies `x` into `out[outOffset …]` after checking that it is an array of `expected` numbers,
 * then checks (by `finite`) that every entry *as stored* is finite: a finite number beyond
 * float32's range (±3.4e38) stored into a Float32Array is refused as well, rather than cached as
 * Infinity. With `float32`, so is such a number read into a float64 `out` (a float32 engine's
 * input, which its projections widen), so that whether an input is taken does not depend on the
 * kernels. On a refusal `out` may hold part of `x`: callers pass scratch rows, never state.
 */
export function readVector(
  x: Vector,
  expected: number,
  out: FloatArray,
  outOffset: number,
  field: string,
  token: number,
  finite: FiniteCheck = finiteInTypeScript,
  float32 = false,
): void {
  assertVectorShape(x, expected, field, token);
  if (x instanceof Float32Array || x instanceof Float64Array) {
    // A typed array holds numbers only: copy it in one go, then check what was stored.
    out.set(x, outOffset);
  } else {
    for (let i = 0; i < expected; i++) {
      const value = x[i];
      // Checked before storing: a typed array would turn null into 0 and true into 1.
      if (typeof value !== 'number') nonFinite(field, token, i, value, 'expected a finite number');
      out[outOffset + i] = value;
    }
  }
  const row = outOffset === 0 && out.length === expected ? out : out.subarray(outOffset, outOffset + expected);
  const wide = float32 && !(out instanceof Float32Array);
  if (finite(row) && (!wide || withinFloat32(row))) return;
  for (let i = 0; i < expected; i++) {
    const stored = out[outOffset + i]!;
    if (!Number.isFinite(stored) || (wide && Math.abs(stored) >= FLOAT32_OVERFLOW)) {
      const value = x[i]!;
      nonFinite(field, token, i, value, Number.isFinite(value) ? "beyond float32's range (±3.4e38) of precision 'float32'" : 'expected a finite number');
    }
  }
}

/** The smallest magnitude float32 stores as Infinity: 2¹²⁸ − 2¹⁰³, halfway past its largest number. */
const FLOAT32_OVERFLOW = 2 ** 128 - 2 ** 103;

/** Whether every entry of a finite row is one float32 stores as a finite number. */
export function withinFloat32(row: FloatArray): boolean {
  for (let i = 0; i < row.length; i++) if (Math.abs(row[i]!) >= FLOAT32_OVERFLOW) return false;
  return true;
}

function nonFinite(field: string, token: number, element: number, value: unknown, rule: string): never {
  throw new AttentionError('NON_FINITE', `${field} at token ${token}: element ${element} is ${describeValue(value)}, ${rule}`, {
    field,
    token,
    element,
    actual: shownValue(value),
  });
}

/** Throws NON_FINITE naming `field` when `a[0 : n]` holds a non-finite number (an overflow), checked by `finite`. */
export function assertFinite(a: FloatArray, n: number, field: string, token: number, finite: FiniteCheck = finiteInTypeScript): void {
  if (finite(a.length === n ? a : a.subarray(0, n))) return;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(a[i]!)) {
      throw new AttentionError(
        'NON_FINITE',
        `${field} at token ${token}: element ${i} overflowed to ${a[i]}; the input or the weights are too large`,
        { field, token, element: i, actual: String(a[i]) },
      );
    }
  }
}

/**
 * {@link assertFinite} over `n` rows of several arrays at once (`[array, width, field]`, row i of
 * each at `i·width`): one check over every array; only when it fails, the row-by-row scan that
 * names the first overflow in row order (within a row, in the order given), row i as token
 * `token(i)`, its checks run through `row(i, check)` (which may name more: pushEach's engine).
 */
export function assertRowsFinite(
  parts: readonly (readonly [FloatArray, number, string])[],
  n: number,
  token: (i: number) => number,
  finite: FiniteCheck = finiteInTypeScript,
  row: RowCheck = (_, check) => check(),
): void {
  if (parts.every(([rows]) => finite(rows))) return;
  for (let i = 0; i < n; i++) {
    row(i, () => {
      for (const [rows, width, field] of parts) assertFinite(rows.subarray(i * width, (i + 1) * width), width, field, token(i));
    });
  }
}

/** Runs the checks of row `i`: {@link assertRowsFinite}'s hook for naming whose row it is. */
export type RowCheck = (i: number, check: () => void) => void;

