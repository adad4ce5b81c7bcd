/**
 * The kit's own rounding of weights to the 16-bit formats an engine may store them in, in float64
 * arithmetic (a power-of-two scaling, a floor and a comparison), sharing no code with the engine's
 * bit manipulations (src/kernels/bfloat16.ts, float16.ts): the oracle checks those, not reuses them.
 */

/** Significant bits, smallest normal and largest exponent of each format. */
const FORMATS = {
  bfloat16: { bits: 8, minExponent: -126, maxExponent: 127 },
  float16: { bits: 11, minExponent: -14, maxExponent: 15 },
} as const;

/** The 16-bit formats an engine may store weights in. */
export type HalfFormat = keyof typeof FORMATS;

/** The largest finite number of `format`: 65,504 for binary16, about 3.39e38 for bfloat16. */
export function largestHalf(format: HalfFormat): number {
  const { bits, maxExponent } = FORMATS[format];
  return (2 - 2 ** (1 - bits)) * 2 ** maxExponent;
}

/**
 * `x`, taken as float32 as the engine takes its weights, rounded to the nearest number of `format`
 * (ties to even, subnormals kept); ±Infinity past the format's largest, which resolveOptions refuses.
 */
export function roundToHalf(x: number, format: HalfFormat): number {
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
  // Past the largest finite number: IEEE rounds it to Infinity.
  return Math.sign(f) * (rounded > largestHalf(format) ? Infinity : rounded);
}
