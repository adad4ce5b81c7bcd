import type { FloatArray } from './float-array.js';

/** float32's largest finite number. */
const FLOAT32_MAX = 3.4028234663852886e38;
/**
 * The largest magnitude an int8 row or channel may hold: its scale, `max / 127`, is stored as
 * float32, which this keeps finite. Only float64 rows can pass it.
 */
const INT8_MAX_MAGNITUDE = 127 * FLOAT32_MAX;

/** The index of `row`'s first entry past {@link INT8_MAX_MAGNITUDE}, or -1 (always for float32 rows, at most 3.4e38). */
export function beyondInt8Range(row: FloatArray): number {
  if (row instanceof Float32Array) return -1;
  for (let i = 0; i < row.length; i++) if (Math.abs(row[i]!) > INT8_MAX_MAGNITUDE) return i;
  return -1;
}

const bits = new Float32Array(1);
const word = new Uint32Array(bits.buffer);
/** The largest scale of float32 rows, whose `127·s` dequantizes to a finite float32 (float64 rows': FLOAT32_MAX). */
const LARGEST_FLOAT32_SCALE = int8Scale(FLOAT32_MAX);

/**
 * Whether quantizing could have made scale `s`: finite and not negative, and for a float32 cache
 * (`float32`) one whose `127·s` dequantizes to a finite float32 (see {@link int8Scale}).
 */
export function isInt8Scale(s: number, float32: boolean): boolean {
  return s >= 0 && s <= (float32 ? LARGEST_FLOAT32_SCALE : FLOAT32_MAX);
}

/**
 * `max / 127` as float32, rounded down where rounding to nearest would make `127·s` pass float32's
 * largest number although `max` is within it: dequantized in float32, 127·s would be Infinity.
 */
function int8Scale(max: number): number {
  const s = Math.fround(max / 127);
  if (max > FLOAT32_MAX || s * 127 <= FLOAT32_MAX) return s;
  bits[0] = s;
  word[0]! -= 1;
  return bits[0]!;
}

/**
 * `q[qOffset : qOffset+n] = round(x / s)` with one scale `s = max|x| / 127` for the whole row,
 * stored as float32 in `scales[scaleIndex]` (0 for an all-zero row). The round trip
 * `q·s` is within `s/2` of x.
 */
export function quantizeRowInt8(
  q: Int8Array,
  qOffset: number,
  scales: Float32Array,
  scaleIndex: number,
  x: FloatArray,
  xOffset: number,
  n: number,
): void {
  let max = 0;
  for (let c = 0; c < n; c++) max = Math.max(max, Math.abs(x[xOffset + c]!));
  const s = int8Scale(max);
  scales[scaleIndex] = s;
  const inv = s === 0 ? 0 : 1 / s;
  for (let c = 0; c < n; c++) q[qOffset + c] = clamp(Math.round(x[xOffset + c]! * inv));
}

/**
 * Per-channel quantization of a `rows × cols` row-major matrix at `x[offset …]`: column c gets the
 * scale `s_c = max_r |x[r][c]| / 127`, written to `scales[scaleOffset + c]` as float32.
 *
 * With `floors` (the scales `floors[scaleOffset + c]` the columns were quantized on before, their
 * rows since dequantized and some written again) each column keeps its old scale while its entries
 * fit it, and otherwise grows it at least twofold ({@link grownScale}).
 */
export function quantizeColumnsInt8(
  q: Int8Array,
  scales: Float32Array,
  scaleOffset: number,
  x: FloatArray,
  offset: number,
  rows: number,
  cols: number,
  floors: Float32Array | null = null,
): void {
  for (let c = 0; c < cols; c++) {
    let max = 0;
    for (let r = 0; r < rows; r++) max = Math.max(max, Math.abs(x[offset + r * cols + c]!));
    scales[scaleOffset + c] = floors === null ? int8Scale(max) : grownScale(max, floors[scaleOffset + c]!, x instanceof Float32Array);
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const s = scales[scaleOffset + c]!;
      q[offset + r * cols + c] = s === 0 ? 0 : clamp(Math.round(x[offset + r * cols + c]! / s));
    }
  }
}

/**
 * The scale of a column of float32 (`float32`) or float64 rows quantized before on `floor`, whose
 * largest entry is now `max`. The rows dequantized from `floor` are its integers times `floor`, so
 * keeping `floor` while every entry fits it (|x| ≤ 127.5·floor, which rounds to ±127 at most)
 * rounds them back to exactly those integers: a block truncated into and filled again any number of
 * times moves its kept keys no further. Past it the kept rows are rounded again, each time by up to
 * half the new scale; growing at least twofold makes those halves sum to less than twice the one
 * before the last, however often it grows (docs/guides/long-streams.md). Where twice `floor` passes
 * the precision's largest scale, the scale grows to that, which every entry fits: it grows no more.
 */
function grownScale(max: number, floor: number, float32: boolean): number {
  if (max <= 127.5 * floor) return floor;
  return Math.max(int8Scale(max), Math.min(2 * floor, float32 ? LARGEST_FLOAT32_SCALE : FLOAT32_MAX));
}

function clamp(v: number): number {
  return v > 127 ? 127 : v < -127 ? -127 : v;
}
