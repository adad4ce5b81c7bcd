import { fma32 } from './fused-products.js';

/**
 * The WebAssembly `project` kernel's order of operations, spelled out one float32 rounding at a
 * time: x rounded to float32; for each output, four lane sums by column mod 4 of float32 products
 * (the last, partial chunk of four padded with zeros); then (l0 + l1) + (l2 + l3). With `fused`
 * (the relaxed-SIMD build where it fuses, see productsFused) each product and its lane's addition
 * round once. Written from the order the kernel documents, not from its code, so a kernel that
 * drifts from it fails the tests.
 */
export function projectFloat32(out: Float32Array, outOffset: number, w: Float32Array, x: ArrayLike<number>, xOffset: number, rows: number, cols: number, fused = false): void {
  const f = Math.fround;
  for (let r = 0; r < rows; r++) {
    const lanes = [0, 0, 0, 0];
    for (let c0 = 0; c0 < cols; c0 += 4) {
      for (let j = 0; j < 4; j++) {
        const c = c0 + j;
        const [a, b] = c < cols ? [w[r * cols + c]!, f(x[xOffset + c]!)] : [0, 0];
        lanes[j] = fused ? fma32(a, b, lanes[j]!) : f(lanes[j]! + f(a * b));
      }
    }
    out[outOffset + r] = f(f(lanes[0]! + lanes[1]!) + f(lanes[2]! + lanes[3]!));
  }
}
