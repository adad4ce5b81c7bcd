// bfloat16 is a float32's upper 16 bits: rounding keeps them (to nearest, ties to even), widening
// puts them back with zeros below, exactly.

/** The largest finite bfloat16, 0x7f7f: a float32 at or past halfway to the next step rounds to Infinity. */
export const BF16_MAX = 3.3895313892515355e38;

/**
 * Rounds each number of `a` to the nearest bfloat16, ties to even, in place (a float32's low 16
 * bits cleared, carrying into the upper half as the rounding needs), as `torch.Tensor.bfloat16()`
 * does: 1 + 2⁻⁸ to 1, 1 + 3·2⁻⁸ to 1 + 2⁻⁶. Stops at the first finite number that would round to
 * ±Infinity (past {@link BF16_MAX} by half a step or more), left as it was, and returns its index;
 * else -1. NaN is left for the caller to have refused.
 */
export function roundToBfloat16(a: Float32Array): number {
  const bits = new Uint32Array(a.buffer, a.byteOffset, a.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    // 0x7fff plus the kept part's lowest bit: above half rounds up, exactly half only to even.
    const rounded = (b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000;
    if ((rounded & 0x7fffffff) === 0x7f800000 && (b & 0x7fffffff) < 0x7f800000) return i;
    bits[i] = rounded;
  }
  return -1;
}

/** bfloat16 numbers (their bits) as float32, exactly, in a fresh array. */
export function widenBfloat16(halves: Uint16Array): Float32Array {
  const bits = new Uint32Array(halves.length);
  for (let i = 0; i < halves.length; i++) bits[i] = halves[i]! << 16;
  return new Float32Array(bits.buffer);
}
