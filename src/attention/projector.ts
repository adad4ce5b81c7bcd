import { matVec } from '../kernels/index.js';
import type { FloatArray } from '../kernels/index.js';
import type { ResolvedOptions } from './options.js';

/**
 * `q = W_q x`, `k = W_k x`, `v = W_v x` into the given rows; in seed mode `q = k = v = x`.
 */
export function project(o: ResolvedOptions, x: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray): void {
  if (o.weights === null) {
    q.set(x);
    k.set(x);
    v.set(x);
    return;
  }
  matVec(q, 0, o.weights.wq, x, 0, o.heads * o.headDim, o.dim);
  matVec(k, 0, o.weights.wk, x, 0, o.kvHeads * o.headDim, o.dim);
  matVec(v, 0, o.weights.wv, x, 0, o.kvHeads * o.headDim, o.dim);
}
