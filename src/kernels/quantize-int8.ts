import type { FloatArray } from './float-array.js';

/**
 * The largest magnitude an int8 row or channel may hold: its scale, `max / 127`, is stored as
 * float32, which this keeps finite. Only float64 rows can pass it.
 */
export const INT8_MAX_MAGNITUDE = 127 * 3.4028234663852886e38;

/** float32's largest finite number. */
const FLOAT32_MAX = 3.4028234663852886e38;
const bits = new Float32Array(1);
const word = new Uint32Array(bits.buffer);

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
 */
export function quantizeColumnsInt8(
  q: Int8Array,
  scales: Float32Array,
  scaleOffset: number,
  x: FloatArray,
  offset: number,
  rows: number,
  cols: number,
): void {
  for (let c = 0; c < cols; c++) {
    let max = 0;
    for (let r = 0; r < rows; r++) max = Math.max(max, Math.abs(x[offset + r * cols + c]!));
    scales[scaleOffset + c] = int8Scale(max);
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const s = scales[scaleOffset + c]!;
      q[offset + r * cols + c] = s === 0 ? 0 : clamp(Math.round(x[offset + r * cols + c]! / s));
    }
  }
}

function clamp(v: number): number {
  return v > 127 ? 127 : v < -127 ? -127 : v;
}
