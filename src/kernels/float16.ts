// IEEE 754 binary16 <-> float32, exact, round to nearest, ties to even (Node 20 has no Math.f16round).

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

/**
 * Lookup table of all 65536 binary16 values as float32 (built once, 256 KiB). A NaN keeps its sign
 * and payload (shifted into the float32 fraction, as IEEE 754's widening and numpy do): its bits
 * are written, since a NaN passed through a JS number may come out canonical. Copy the bits
 * (a Uint32Array over the table's buffer) to keep them.
 */
export function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  const bits = new Uint32Array(t.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f) bits[h] = ((h & 0x8000) << 16) | 0x7f800000 | (mant << 13);
    else t[h] = sign * (exp === 0 ? mant * 2 ** -24 : (1024 + mant) * 2 ** (exp - 25));
  }
  f16Table = t;
  return t;
}

/** The float value of binary16 bits `h` (0..65535). */
export function f16BitsToF32(h: number): number {
  return f16ToF32Table()[h & 0xffff]!;
}

/**
 * Rounds each number of `a` to the nearest binary16, ties to even, in place, as
 * `torch.Tensor.half()` does (subnormals kept, smaller magnitudes to ±0): 1 + 2⁻¹¹ to 1. Stops at
 * the first finite number that would round to ±Infinity (65,520 or more in magnitude, half a step
 * past {@link F16_MAX}), left as it was, and returns its index; else -1. NaN is left for the
 * caller to have refused.
 */
export function roundToFloat16(a: Float32Array): number {
  const table = f16ToF32Table();
  for (let i = 0; i < a.length; i++) {
    const h = f32ToF16Bits(a[i]!);
    if ((h & 0x7fff) === 0x7c00 && Number.isFinite(a[i]!)) return i;
    a[i] = table[h]!;
  }
  return -1;
}

/** binary16 numbers (their bits) as float32, exactly, in a fresh array: bits copied, so a NaN's sign and payload stay. */
export function widenFloat16(halves: Uint16Array): Float32Array {
  const table = new Uint32Array(f16ToF32Table().buffer);
  const bits = new Uint32Array(halves.length);
  for (let i = 0; i < halves.length; i++) bits[i] = table[halves[i]!]!;
  return new Float32Array(bits.buffer);
}
