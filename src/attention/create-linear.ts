import { AttentionError, describeValue, shownValue } from '../errors.js';
import { addBias } from '../kernels/add-bias.js';
import { matMatTransposed } from '../kernels/mat-mat.js';
import type { ThreadPool } from '../kernels/wasm/thread-pool.js';
import { wasmKernelsAvailable } from '../kernels/wasm/wasm-arena.js';
import { ArenaWeights } from './arena-weights.js';
import { kernelArena } from './kernel-arena.js';
import { InputReading } from './input-reading.js';
import { MAX_WIDTH } from './options.js';
import { invalid, kernelChoiceOf, matrix, positiveInteger, threadPoolOf } from './option-checks.js';
import { assertFinite, assertVectorShape, finiteCheck, lengthOf, readVector, rowsOf } from './vector.js';
import type { FiniteCheck, Vector, VectorRows } from './vector.js';

/**
 * Options of {@link createLinear}: a `torch.nn.Linear` layer, `y = W·x + b`.
 *
 * @example
 * ```ts
 * import type { LinearOptions } from 'attnstream';
 * // A layer from 2 inputs to 3 outputs: W is 3×2, row-major (torch.nn.Linear's weight as is).
 * const options: LinearOptions = { rows: 3, cols: 2, weight: [1, 0, 0, 1, 1, 1], bias: [0, 0, 0.5] };
 * ```
 */
export interface LinearOptions {
  /** Outputs, `out_features`. */
  readonly rows: number;
  /** Inputs, `in_features`. */
  readonly cols: number;
  /** W, `rows × cols` numbers row-major: the checkpoint's `weight` tensor as is. Kept as float32, or as `weightsDtype` says. */
  readonly weight: Vector;
  /** b, `rows` numbers; none by default. */
  readonly bias?: Vector | undefined;
  /**
   * 'float32' (default), 'bfloat16' or 'float16': W and b rounded to the nearest bfloat16 (ties to
   * even, as `torch.Tensor.bfloat16()`) or IEEE binary16 (as `torch.Tensor.half()`; a BF16 or F16
   * checkpoint's are already), and W kept in the kernels' memory in 2 bytes a weight: half the
   * memory; bfloat16 is also faster once W no longer fits the caches (~1.4x), binary16 ~0.7x
   * float32's speed from memory and ~0.5x from the caches (docs/guides/speed.md). The outputs are
   * those of a float32 layer given the rounded weights, bit for bit. The TypeScript kernels hold
   * the rounded W as float32.
   * @example
   * ```ts
   * import { createLinear } from 'attnstream';
   * const layer = createLinear({ rows: 1, cols: 2, weight: [1.001, 2], weightsDtype: 'bfloat16' });
   * console.log(layer.row(0), layer.apply([1, 1])); // Float32Array [1, 2] Float32Array [3]
   * ```
   */
  readonly weightsDtype?: 'float32' | 'bfloat16' | 'float16' | undefined;
  /** 'auto' (default): the WebAssembly SIMD kernel where the runtime has it; 'js': TypeScript loops. */
  readonly kernels?: 'auto' | 'js' | undefined;
  /** Split each product across a pool's threads (attnstream/threads); needs the WebAssembly kernel. */
  readonly threads?: ThreadPool | undefined;
}

/**
 * A linear layer over float32 weights on attnstream's projection kernel: the rest of a decoder
 * layer (the MLP's up, gate and down projections, the unembedding) at the speed the engine
 * projects q, k and v, and with its numbers.
 *
 * @example
 * ```ts
 * import { createLinear } from 'attnstream';
 * const layer = createLinear({ rows: 2, cols: 2, weight: [1, 2, 3, 4], bias: [0.5, -1] });
 * console.log(layer.apply([1, 1])); // Float32Array [3.5, 6]
 * console.log(layer.applyMany([[1, 0], [0, 1]])); // Float32Array [1.5, 2, 2.5, 3]: row after row
 * console.log(layer.applyMany(Float32Array.of(1, 0, 0, 1))); // the same rows given flat
 * ```
 */
export interface Linear {
  /** Outputs per row. */
  readonly rows: number;
  /** Inputs per row. */
  readonly cols: number;
  /** The kernels in use: 'wasm' (SIMD, float32 arithmetic) or 'js' (float64 sums, rounded to float32). */
  readonly kernels: 'wasm' | 'js';
  /** How the weights are kept: as given in float32, or rounded to bfloat16 or binary16 ({@link LinearOptions.weightsDtype}). */
  readonly weightsDtype: 'float32' | 'bfloat16' | 'float16';
  /** Whether {@link Linear.dispose} was called. */
  readonly disposed: boolean;
  /**
   * `y = W·x + b` for one input of `cols` numbers, into `out` (at least `rows` long) or a new
   * Float32Array.
   *
   * @throws AttentionError INVALID_ARGUMENT, DIMENSION_MISMATCH or NON_FINITE for a bad x or
   *   `out` (field `x` or `out`); NON_FINITE when an output overflows float32; DISPOSED.
   */
  apply(x: Vector, out?: Float32Array): Float32Array;
  /**
   * `Y = X·Wᵀ + b` for n inputs at once, into `out` (at least `n·rows` long) or a new
   * Float32Array, row after row: each row bit for bit what {@link Linear.apply} gives it, and
   * for several rows faster (four inputs share each pass over W). `xs` is a list of rows, or the
   * rows one after another in one Float32Array or Float64Array (as `applyMany` returns them, so
   * layers chain: `down.applyMany(up.applyMany(xs))`). Throws as `apply`, naming the input
   * (`token`) at fault; nothing is written to `out` then.
   *
   * @throws AttentionError DIMENSION_MISMATCH (field `xs`) for a flat array whose length is not a
   *   multiple of `cols`.
   */
  applyMany(xs: VectorRows, out?: Float32Array): Float32Array;
  /**
   * Row `index` of W (`cols` numbers, as kept: float32), into `out` (at least `cols` long) or a
   * new Float32Array. With tied embeddings (GPT-2, Gemma: the unembedding is the embedding table)
   * the unembedding layer is the table too, `lmHead.row(token)` a token's embedding, so the model
   * holds its largest matrix once.
   *
   * @throws AttentionError OUT_OF_RANGE (field `row`) for an index that is not an integer in
   *   `[0, rows)`; INVALID_ARGUMENT (field `out`) for an `out` that is not a Float32Array of at
   *   least `cols` numbers; DISPOSED.
   * @example
   * ```ts
   * import { createLinear } from 'attnstream';
   * // Tied embeddings: the table of 3 tokens × 2 dims is the unembedding's W.
   * const lmHead = createLinear({ rows: 3, cols: 2, weight: [1, 0, 0, 1, 0.5, 0.5] });
   * const h = lmHead.row(2); // token 2's embedding: Float32Array [0.5, 0.5]
   * console.log(lmHead.apply(h)); // its logits: Float32Array [0.5, 0.5, 0.5]
   * ```
   */
  row(index: number, out?: Float32Array): Float32Array;
  /** Gives the weights' copy in the kernels' memory back; the layer cannot be used afterwards. */
  dispose(): void;
}

/**
 * A {@link Linear} layer, `y = W·x + b` with W `rows × cols` row-major (`torch.nn.Linear`), kept in
 * float32 (or bfloat16 or binary16: {@link LinearOptions.weightsDtype}). On the WebAssembly
 * kernels (the default where the runtime has SIMD) the weights are copied once into the kernels'
 * memory, their only copy (4 bytes a weight, 2 in bfloat16 or binary16), and multiplied there in
 * float32 arithmetic, in the fixed order the engine's projections use (so one input's numbers are the same alone or among
 * many), on the inputs rounded to float32; with `kernels: 'js'`, or when that memory cannot take
 * the copy, TypeScript loops multiply the inputs as given (a float64 input is not rounded first),
 * sum in float64 and round the results to float32.
 *
 * @throws AttentionError INVALID_OPTION (rows, cols, weightsDtype, kernels, threads, an unknown
 *   option), DIMENSION_MISMATCH or NON_FINITE (a weight or bias of the wrong length, with a
 *   non-finite number, or past the range of the 16-bit format it is kept in), naming the field.
 * @example
 * ```ts
 * import { createLinear } from 'attnstream';
 * // A decoder's MLP, SwiGLU style, from its checkpoint tensors (gate_proj, up_proj, down_proj).
 * const [dim, hidden] = [4, 8];
 * const w = (rows: number, cols: number) => Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i) / 4);
 * const gate = createLinear({ rows: hidden, cols: dim, weight: w(hidden, dim) });
 * const up = createLinear({ rows: hidden, cols: dim, weight: w(hidden, dim).reverse() });
 * const down = createLinear({ rows: dim, cols: hidden, weight: w(dim, hidden) });
 * const mlp = (x: Float32Array) => {
 *   const g = gate.apply(x);
 *   const u = up.apply(x);
 *   for (let i = 0; i < hidden; i++) g[i] = (g[i]! / (1 + Math.exp(-g[i]!))) * u[i]!; // silu(gate)·up
 *   return down.apply(g);
 * };
 * console.log(mlp(Float32Array.of(1, -1, 0.5, 2)).length); // 4
 * ```
 */
export function createLinear(options: LinearOptions): Linear {
  return new LinearLayer(options);
}

const KNOWN_OPTIONS = ['rows', 'cols', 'weight', 'bias', 'weightsDtype', 'kernels', 'threads'];

class LinearLayer implements Linear {
  readonly rows: number;
  readonly cols: number;
  readonly kernels: 'wasm' | 'js';
  readonly weightsDtype: Linear['weightsDtype'];
  /** W in float32 when the kernels' memory holds no copy of it (kernels 'js'); else null, the copy being the only one. */
  private readonly weight: Float32Array | null;
  private readonly bias: Float32Array | null;
  private readonly copy: ArenaWeights<'weight'> | null;
  private readonly finite: FiniteCheck;
  private isDisposed = false;
  /** Refuses calls while one reads its caller's inputs (a getter or Proxy in them runs the caller's code). */
  private readonly reading = new InputReading('linear layer');
  private readonly pool: ThreadPool | null;
  /** The rows taken in, widened, and the products: scratch that grows to the largest call. */
  private x: Float64Array;
  private y = new Float32Array(0);

  constructor(options: LinearOptions) {
    if (options === null || typeof options !== 'object') invalid('options', 'must be an object');
    for (const key of Object.keys(options)) if (!KNOWN_OPTIONS.includes(key)) invalid(key, `is not an option (known: ${KNOWN_OPTIONS.join(', ')})`);
    this.rows = positiveInteger(options.rows, 'rows', MAX_WIDTH);
    this.cols = positiveInteger(options.cols, 'cols', MAX_WIDTH);
    if (this.rows * this.cols > 2 ** 30) invalid('rows', `must keep rows·cols at most 2^30 numbers (4 GiB of float32), got ${this.rows}·${this.cols}`);
    const dtype = options.weightsDtype ?? 'float32';
    if (dtype !== 'float32' && dtype !== 'bfloat16' && dtype !== 'float16') invalid('weightsDtype', `must be 'float32', 'bfloat16' or 'float16', got ${describeValue(dtype)}`);
    this.weightsDtype = dtype;
    const half = dtype === 'float32' ? undefined : dtype;
    const weight = matrix(options.weight, this.rows, this.cols, 'weight', Float32Array, half) as Float32Array;
    this.bias = options.bias === undefined ? null : (matrix(options.bias, 1, this.rows, 'bias', Float32Array, half) as Float32Array);
    const wasm = kernelChoiceOf(options.kernels) === 'auto' && wasmKernelsAvailable();
    const pool = threadPoolOf(options.threads, wasm, "kernels 'auto' on a runtime with WebAssembly SIMD");
    this.pool = pool;
    const arena = kernelArena({ threads: pool, kernels: wasm ? 'wasm' : 'js' });
    this.copy = arena === null ? null : ArenaWeights.copyMatrices(arena, pool, [{ name: 'weight', data: weight, rows: this.rows, cols: this.cols }], dtype);
    // Once the kernels hold the weights, a second copy here would double a large layer's memory.
    this.weight = this.copy === null ? weight : null;
    this.kernels = this.copy === null ? 'js' : 'wasm';
    this.finite = finiteCheck(arena);
    this.x = new Float64Array(this.cols);
  }

  get disposed(): boolean {
    return this.isDisposed;
  }

  apply(x: Vector, out?: Float32Array): Float32Array {
    return this.run([x], out, 'apply');
  }

  applyMany(xs: VectorRows, out?: Float32Array): Float32Array {
    // Disposed, a flat array is refused as such before its length is looked at.
    return this.run(this.isDisposed ? (xs as readonly Vector[]) : rowsOf(xs, this.cols, 'applyMany', 'xs'), out, 'applyMany');
  }

  private run(xs: readonly Vector[], out: Float32Array | undefined, operation: string): Float32Array {
    this.reading.assertIdle(operation);
    if (this.isDisposed) throw new AttentionError('DISPOSED', `${operation}: this linear layer was disposed`, { field: operation });
    if (!Array.isArray(xs)) throw new AttentionError('INVALID_ARGUMENT', `${operation}: expected an array of vectors, got ${describeValue(xs)}`, { field: 'xs' });
    const { rows, cols } = this;
    let n = 0;
    // A sleeping worker wakes while the inputs are read, not after the product is handed over.
    this.pool?.wake(this);
    // Lengths as well as numbers: a getter on either may run the caller's code.
    InputReading.during([this.reading], operation, () => {
      n = xs.length;
      // Past 2³⁰ numbers the products could not be held at once (a typed array's bound is near).
      if (n * rows > 2 ** 30) {
        throw new AttentionError('INVALID_ARGUMENT', `${operation}: ${n} inputs of ${rows} outputs each are ${n * rows} numbers, past the 2^30 a call returns at once; apply them in smaller batches`, { field: 'xs', expected: `at most ${Math.floor(2 ** 30 / rows)} inputs`, actual: n });
      }
      if (out !== undefined && !(out instanceof Float32Array && (lengthOf(out) as number) >= n * rows)) {
        throw new AttentionError('INVALID_ARGUMENT', `${operation}: out must be a Float32Array of at least ${n * rows} numbers, got ${describeValue(out)}`, { field: 'out', expected: n * rows });
      }
      for (let t = 0; t < n; t++) assertVectorShape(xs[t]!, cols, 'x', t);
      if (this.x.length < n * cols) this.x = new Float64Array(n * cols);
      for (let t = 0; t < n; t++) readVector(xs[t]!, cols, this.x, t * cols, 'x', t, this.finite, true);
    });
    if (this.y.length < n * rows) this.y = new Float32Array(n * rows);
    const y = this.y.length === n * rows ? this.y : this.y.subarray(0, n * rows);
    if (n > 0 && (this.copy === null || !this.copy.project([['weight', y]], this.x, n))) {
      // The kernels' scratch could not grow: TypeScript loops over the weights wherever they are.
      matMatTransposed(y, this.x, this.weight ?? this.copy!.view('weight'), n, rows, cols);
    }
    if (this.bias !== null) addBias(y, this.bias, n);
    for (let t = 0; t < n; t++) assertFinite(y.subarray(t * rows, (t + 1) * rows), rows, 'output', t, this.finite);
    if (out === undefined) return y.slice();
    out.set(y);
    return out;
  }

  row(index: number, out?: Float32Array): Float32Array {
    this.reading.assertIdle('row');
    if (this.isDisposed) throw new AttentionError('DISPOSED', 'row: this linear layer was disposed', { field: 'row' });
    const { rows, cols } = this;
    if (!(Number.isInteger(index) && index >= 0 && index < rows)) {
      throw new AttentionError('OUT_OF_RANGE', `row: expected an integer from 0 to ${rows - 1}, got ${describeValue(index)}`, { field: 'row', expected: `0..${rows - 1}`, actual: shownValue(index) });
    }
    if (out !== undefined && !(out instanceof Float32Array && (lengthOf(out) as number) >= cols)) {
      throw new AttentionError('INVALID_ARGUMENT', `row: out must be a Float32Array of at least ${cols} numbers, got ${describeValue(out)}`, { field: 'out', expected: cols });
    }
    const source = this.weight?.subarray(index * cols, (index + 1) * cols) ?? this.copy!.view('weight', index * cols, (index + 1) * cols);
    if (out === undefined) return source.slice();
    out.set(source);
    return out;
  }

  dispose(): void {
    this.reading.assertIdle('dispose');
    if (this.isDisposed) return;
    this.isDisposed = true;
    this.copy?.release();
  }
}
