/**
 * The kit's own rounding of weights to the 16-bit formats an engine may store them in, in float64
 * arithmetic (a power-of-two scaling, a floor and a comparison), sharing no code with the engine's
 * bit manipulations (src/kernels/bfloat16.ts, float16.ts): the oracle checks those, not reuses them.
 */

/** Significant bits and smallest normal exponent of each format. */
const FORMATS = {
  bfloat16: { bits: 8, minExponent: -126 },
  float16: { bits: 11, minExponent: -14 },
} as const;

/**
 * `x`, taken as float32 as the engine takes its weights, rounded to the nearest number of `format`
 * (ties to even, subnormals kept); ±Infinity past the format's largest, which resolveOptions refuses.
 */
export function roundToHalf(x: number, format: keyof typeof FORMATS): number {
  const f = Math.fround(x);
  const a = Math.abs(f);
  if (a === 0 || !Number.isFinite(a)) return f;
  const { bits, minExponent } = FORMATS[format];
  let e = Math.floor(Math.log2(a));
  // log2 may land one off near a power of two: 2^e ≤ a < 2^(e+1) exactly.
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, minExponent) - (bits - 1));
  const q = a / ulp;
  let r = Math.floor(q);
  const rest = q - r;
  if (rest > 0.5 || (rest === 0.5 && r % 2 === 1)) r++;
  const rounded = r * ulp;
  // Past the largest finite number a significand of `bits` bits reaches: IEEE rounds it to Infinity.
  const largest = (2 - 2 ** (1 - bits)) * 2 ** (format === 'float16' ? 15 : 127);
  return Math.sign(f) * (rounded > largest ? Infinity : rounded);
}
