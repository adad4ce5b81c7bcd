import { AttentionError } from '../errors.js';
import { widenBfloat16 } from '../kernels/bfloat16.js';
import { f16BitsToF32, f32ToF16Bits, widenFloat16 } from '../kernels/float16.js';
import type { FloatArray } from '../kernels/float-array.js';
import { projectInArena } from '../kernels/wasm/project-in-arena.js';
import type { ProjectKernel } from '../kernels/wasm/project-in-arena.js';
import type { ThreadPool } from '../kernels/wasm/thread-pool.js';
import type { WasmArena } from '../kernels/wasm/wasm-arena.js';
import type { ResolvedOptions } from './options.js';
import { weightsFingerprint } from './weights-fingerprint.js';

/** Which projection: the query, key, value or output matrix. */
export type Projection = 'wq' | 'wk' | 'wv' | 'wo';

/** How a copy stores its weights: 4 bytes each, or 2 (the upper half of a float32, or an IEEE binary16). */
export type WeightsDtype = 'float32' | 'bfloat16' | 'float16';

/**
 * Bytes of float32 rows a prompt widens from a 16-bit copy at a time, to run the float32 kernel
 * over ({@link ArenaWeights.project}); the `project` kernel then passes over them in blocks of
 * 128 KiB.
 */
export const WIDEN_BYTES = 512 << 10;

/** How a copy projects: by its own kernel, and for a 16-bit copy the widening and the float32 kernel a prompt uses. */
interface CopyKernels {
  /** The kernel over the copy as stored. */
  readonly project: ProjectKernel;
  /**
   * A 16-bit copy's widening into float32 (the arena's), the float32 kernel, and the fewest tokens
   * that take that way; null for a float32 copy.
   */
  readonly widened: { readonly widen: (dst: number, src: number, count: number) => void; readonly project: ProjectKernel; readonly from: number } | null;
}

/**
 * The fewest tokens a call widens a 16-bit copy for (the 16-bit kernel takes fewer): where it
 * began to gain, measured against each format's kernel in one process at 2,048 × 512 and
 * 5,632 × 2,048. bfloat16's kernel widens with one instruction a chunk, and only past 16 tokens
 * does the widened rows' float32 pass make up for writing them (0.94–0.97x at 16, 1.04x at 32,
 * 1.1x at 64); binary16's takes four, and 8 tokens already ran 1.3–1.5x faster widened (4: 0.95–1.2x).
 * Measured on one thread: with a pool the widening stays on the calling thread while the products
 * are split, so there the crossover may come later.
 */
export const WIDEN_FROM = { bfloat16: 32, float16: 8 } as const;

/** Where one matrix of a copy lies in the arena, and its shape. */
interface ArenaMatrix {
  readonly offset: number;
  readonly rows: number;
  readonly cols: number;
}

interface Region {
  readonly arena: WasmArena;
  readonly offset: number;
  readonly bytes: number;
}

/**
 * The most of an arena's 4 GiB that weight copies may hold together. The rest stays for caches:
 * a model too large for both keeps attending in the kernels and projects its later layers in
 * TypeScript, rather than the other way round (a cache outgrows a layer's weights in a long stream).
 */
const WEIGHTS_BUDGET = 2 ** 31;

/** Bytes of weight copies each arena holds. */
const held = new WeakMap<WasmArena, number>();

function giveBack({ arena, offset, bytes }: Region): void {
  arena.release(offset, bytes);
  held.set(arena, held.get(arena)! - bytes);
}

// An engine dropped without dispose() never releases its matrices: give their memory back when
// the last holder of the copy is collected.
const collected = new FinalizationRegistry<Region>(giveBack);

// A holder (an engine) dropped without dispose() gives its reference back once it is collected, so
// that a copy it shares (with forks, or engines over equal weights) is not held for ever by it.
const holders = new FinalizationRegistry<ArenaWeights<string>>((copy) => copy.release());

/**
 * An engine's float32 projection matrices (or a `createLinear` layer's matrix, under its own
 * name) copied once into the kernel arena, where the WebAssembly `project` kernel reads them (as
 * bfloat16 or binary16 when the weights are: half the bytes, which `projectBf16` or `projectF16`
 * widens back exactly, so the numbers are the float32 kernel's): a single push projects at SIMD speed in float32
 * arithmetic instead of in TypeScript loops summing in float64 (over ten times faster at dim 512;
 * docs/math.md bounds the difference), and a prompt no longer copies each matrix into the arena
 * per call. A token's projections are the same bit for bit alone or in a prompt.
 *
 * With a thread pool, each product is split across its threads (a prompt's tokens, or a single
 * token's rows), every number as on one thread.
 *
 * The copy is the engine's only one ({@link optionsOverCopy}); it lives in the same arena as the
 * caches (4 GiB at most in all), where copies hold at most {@link WEIGHTS_BUDGET} together, and an
 * engine whose copy does not fit keeps its matrices in TypeScript arrays and projects there. An
 * engine and its forks share one copy, and so do engines over equal weights ({@link sharedCopy}),
 * counted by {@link ArenaWeights.retain} and {@link ArenaWeights.release}.
 */
export class ArenaWeights<Name extends string = Projection> {
  private readonly arena: WasmArena;
  private readonly dtype: WeightsDtype;
  /** The arena's kernels, or the engine's thread pool's split of them. */
  private readonly kernels: CopyKernels;
  private readonly matrices: ReadonlyMap<Name, ArenaMatrix>;
  /** The copy's region of the arena: its byte offset and size. */
  readonly offset: number;
  readonly bytes: number;
  private refs = 1;

  /**
   * Copies the float32 matrices of `o` into `arena`, stored as `o.weightsDtype` says; null in seed
   * mode, for float64 weights, or when the arena cannot hold them within `budget` bytes of copies
   * in all.
   */
  static copy(arena: WasmArena, o: ResolvedOptions, budget = WEIGHTS_BUDGET): ArenaWeights | null {
    const matrices = engineMatrices(o);
    return matrices === null ? null : ArenaWeights.copyMatrices(arena, o.threads, matrices.given, matrices.dtype, budget);
  }

  /**
   * Copies float32 row-major matrices (each `rows × cols`) into `arena` under their names, for
   * {@link ArenaWeights.project} on this thread or split across `pool`'s; null when there are none
   * or the arena cannot hold them within `budget` bytes of copies in all. As `'bfloat16'` each
   * weight keeps its float32's upper 16 bits, as `'float16'` its binary16 bits: the caller rounded
   * them (roundToBfloat16, roundToFloat16), so nothing is lost.
   */
  static copyMatrices<N extends string>(
    arena: WasmArena,
    pool: ThreadPool | null,
    given: readonly { readonly name: N; readonly data: Float32Array; readonly rows: number; readonly cols: number }[],
    dtype: WeightsDtype = 'float32',
    budget = WEIGHTS_BUDGET,
  ): ArenaWeights<N> | null {
    const perChunk = dtype === 'float32' ? 4 : 8;
    // Each matrix 16-byte aligned, for the kernel's vector loads.
    const sizes = given.map(({ data }) => 16 * Math.ceil(data.length / perChunk));
    const bytes = sizes.reduce((a, b) => a + b, 0);
    // Weights without any matrix (a caller who projects, no wo) leave nothing to copy.
    if (bytes === 0) return null;
    const before = held.get(arena) ?? 0;
    if (before + bytes > budget) return null;
    const offset = arena.allocate(bytes);
    if (offset < 0) return null;
    held.set(arena, before + bytes);
    const { f32 } = arena.views();
    const matrices = new Map<N, ArenaMatrix>();
    let at = offset;
    given.forEach(({ name, data, rows, cols }, i) => {
      if (dtype === 'float32') f32.set(data, at >>> 2);
      else if (dtype === 'bfloat16') {
        const halves = new Uint16Array(f32.buffer, at, data.length);
        const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
        for (let j = 0; j < bits.length; j++) halves[j] = bits[j]! >>> 16;
      } else {
        const halves = new Uint16Array(f32.buffer, at, data.length);
        for (let j = 0; j < data.length; j++) halves[j] = f32ToF16Bits(data[j]!);
      }
      matrices.set(name, { offset: at, rows, cols });
      at += sizes[i]!;
    });
    // The arena's kernel, or the pool's split of it.
    const split = (op: 'project' | 'projectBf16' | 'projectF16'): ProjectKernel => (pool === null ? arena[op] : (out, x, w, n, rows, cols) => pool[op](out, x, w, n, rows, cols));
    const float32 = split('project');
    const kernels: CopyKernels =
      dtype === 'float32'
        ? { project: float32, widened: null }
        : dtype === 'bfloat16'
          ? { project: split('projectBf16'), widened: { widen: arena.widenBf16, project: float32, from: WIDEN_FROM.bfloat16 } }
          : { project: split('projectF16'), widened: { widen: arena.widenF16, project: float32, from: WIDEN_FROM.float16 } };
    return new ArenaWeights(arena, dtype, kernels, matrices, { arena, offset, bytes });
  }

  private constructor(arena: WasmArena, dtype: WeightsDtype, kernels: CopyKernels, matrices: ReadonlyMap<Name, ArenaMatrix>, region: Region) {
    this.arena = arena;
    this.dtype = dtype;
    this.kernels = kernels;
    this.matrices = matrices;
    this.offset = region.offset;
    this.bytes = region.bytes;
    collected.register(this, region, this);
  }

  /**
   * `out[n×rows] = X[n×cols] · Wᵀ` for each `[which, out]` (X's first n rows; the matrices share
   * X's width: wq, wk and wv, or wo alone), X laid out in the arena once for all of them; false,
   * computing nothing, when the arena's scratch cannot grow (the caller then projects in TypeScript).
   * From a 16-bit copy, a prompt of enough tokens ({@link WIDEN_FROM}) widens the rows
   * {@link WIDEN_BYTES} at a time and runs the float32 kernel over them: the same numbers as the
   * 16-bit kernel (every output's order is `project`'s), ~1.1x (bfloat16) and ~2x (binary16) faster
   * at 64 tokens and more, since the 16-bit kernel widens each weight once per group of four tokens.
   */
  project(products: readonly (readonly [Name, FloatArray])[], x: Float64Array, n: number): boolean {
    const cols = this.matrices.get(products[0]![0])!.cols;
    const laid = products.map(([which, out]) => {
      const { offset, rows } = this.matrices.get(which)!;
      return { w: offset, rows, out };
    });
    const widened = this.kernels.widened;
    if (widened === null || n < widened.from) return projectInArena(this.arena, x, n, cols, laid, this.kernels.project);
    const most = Math.max(...laid.map(({ rows }) => rows));
    const chunk = Math.max(1, Math.min(Math.floor(WIDEN_BYTES / (4 * cols)), most));
    // The widened rows (their count rounded up to four numbers, which the widening may write), then
    // a chunk's outputs where a matrix takes more than one chunk.
    const rowsBytes = 16 * Math.ceil((chunk * cols) / 4);
    const workBytes = rowsBytes + (most > chunk ? 4 * n * chunk : 0);
    const widenedKernel: ProjectKernel = (out, xAt, w, tokens, rows, _cols, work) => {
      for (let r0 = 0; r0 < rows; r0 += chunk) {
        const count = Math.min(chunk, rows - r0);
        widened.widen(work, w + 2 * r0 * cols, count * cols);
        if (count === rows) {
          widened.project(out, xAt, work, tokens, rows, cols, 0);
          continue;
        }
        const chunkOut = work + rowsBytes;
        widened.project(chunkOut, xAt, work, tokens, count, cols, 0);
        // The kernels never grow the memory: a view taken now holds through the copies.
        const { f32 } = this.arena.views();
        for (let t = 0; t < tokens; t++) f32.copyWithin((out >>> 2) + t * rows + r0, (chunkOut >>> 2) + t * count, (chunkOut >>> 2) + (t + 1) * count);
      }
    };
    // Without room for the widened rows, the 16-bit kernel (the same numbers) rather than TypeScript.
    return projectInArena(this.arena, x, n, cols, laid, widenedKernel, workBytes) || projectInArena(this.arena, x, n, cols, laid, this.kernels.project);
  }

  /**
   * Numbers `[start, end)` of matrix `name` (row-major; all of it by default): float32 weights as a
   * view of the arena's memory, valid until the memory next grows (take a fresh one per use);
   * 16-bit weights widened into a fresh Float32Array.
   */
  view(name: Name, start = 0, end?: number): Float32Array {
    const { offset, rows, cols } = this.matrices.get(name)!;
    const last = end ?? rows * cols;
    const { f32 } = this.arena.views();
    if (this.dtype === 'float32') return f32.subarray((offset >>> 2) + start, (offset >>> 2) + last);
    const halves = new Uint16Array(f32.buffer, offset + 2 * start, last - start);
    return this.dtype === 'bfloat16' ? widenBfloat16(halves) : widenFloat16(halves);
  }

  /**
   * Matrix `name` copied out of the arena into a fresh array.
   * @throws AttentionError DISPOSED once every holder has released the copy.
   */
  copyOut(name: Name): Float32Array {
    if (this.refs <= 0) {
      throw new AttentionError('DISPOSED', `weights.${name}: every engine holding these weights (forks, and engines over equal weights) was disposed, and the weights with them`, { field: `weights.${name}` });
    }
    const numbers = this.view(name);
    return this.dtype === 'float32' ? numbers.slice() : numbers;
  }

  /**
   * Whether this copy holds exactly `given`'s matrices, bit for bit as {@link ArenaWeights.copyMatrices}
   * would store them, and no others: then an engine over equal weights can share it.
   */
  holds(given: readonly { readonly name: Name; readonly data: Float32Array; readonly rows: number; readonly cols: number }[], dtype: WeightsDtype): boolean {
    if (!this.live || dtype !== this.dtype || given.length !== this.matrices.size) return false;
    const { f32 } = this.arena.views();
    return given.every(({ name, data, rows, cols }) => {
      const matrix = this.matrices.get(name);
      if (matrix === undefined || matrix.rows !== rows || matrix.cols !== cols) return false;
      const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
      if (dtype === 'float32') {
        const stored = new Uint32Array(f32.buffer, matrix.offset, data.length);
        for (let j = 0; j < bits.length; j++) if (stored[j] !== bits[j]) return false;
        return true;
      }
      const halves = new Uint16Array(f32.buffer, matrix.offset, data.length);
      // The weights were rounded to the 16-bit format when resolved: each must be its stored half exactly.
      if (dtype === 'bfloat16') {
        for (let j = 0; j < bits.length; j++) if (bits[j] !== halves[j]! << 16 >>> 0) return false;
      } else {
        for (let j = 0; j < data.length; j++) if (!Object.is(f16BitsToF32(halves[j]!), data[j])) return false;
      }
      return true;
    });
  }

  /** Whether a holder still has the copy: false once the last one released it. */
  get live(): boolean {
    return this.refs > 0;
  }

  /**
   * `holder` holds one of this copy's references (the one it was made with or retained) until
   * {@link ArenaWeights.releaseFor}, or until it is collected; returns the copy.
   */
  heldBy(holder: object): this {
    holders.register(holder, this, holder);
    return this;
  }

  /** `holder` ({@link ArenaWeights.heldBy}) is done with the copy. */
  releaseFor(holder: object): void {
    holders.unregister(holder);
    this.release();
  }

  /** One more holder (a fork) shares this copy; returns it. */
  retain(): this {
    this.refs++;
    return this;
  }

  /** A holder is done with the copy; the last one gives its memory back to the arena. */
  release(): void {
    if (--this.refs > 0) return;
    collected.unregister(this);
    giveBack({ arena: this.arena, offset: this.offset, bytes: this.bytes });
  }
}

/** An engine's matrices as {@link ArenaWeights.copyMatrices} takes them, and their stored format. */
interface EngineMatrices {
  readonly given: readonly { readonly name: Projection; readonly data: Float32Array; readonly rows: number; readonly cols: number }[];
  readonly dtype: WeightsDtype;
}

/** `o`'s projection matrices and the format a copy stores them in; null in seed mode or for float64 weights. */
function engineMatrices(o: ResolvedOptions): EngineMatrices | null {
  const weights = o.weights;
  if (weights === null || o.precision !== 'float32') return null;
  const qWidth = o.heads * o.headDim;
  const kvWidth = o.kvHeads * o.headDim;
  const shapes: [Projection, FloatArray | null, number, number][] = [
    ['wq', weights.wq, qWidth, o.dim],
    ['wk', weights.wk, kvWidth, o.dim],
    ['wv', weights.wv, kvWidth, o.dim],
    ['wo', weights.wo, o.dim, qWidth],
  ];
  const given = shapes.filter(([, m]) => m !== null).map(([name, data, rows, cols]) => ({ name, data: data as Float32Array, rows, cols }));
  return { given, dtype: o.weightsDtype === 'float64' ? 'float32' : o.weightsDtype };
}

/** The copy the engines made from one resolved options share, while any of them holds it. */
const shared = new WeakMap<ResolvedOptions, { readonly copy: ArenaWeights; readonly options: ResolvedOptions }>();

/**
 * The copies each arena holds, by their matrices' shapes, format and fingerprint: candidates for
 * an engine over equal weights, which {@link ArenaWeights.holds} then compares in full. Weak, so
 * that a copy whose engines were dropped without dispose is still collected (and given back).
 */
const byContent = new WeakMap<WasmArena, Map<string, WeakRef<ArenaWeights>[]>>();

/**
 * The copy in `arena` of `o`'s matrices, shared with every engine whose weights are equal, bit for
 * bit, however they were given (one more holder each): engines made from one resolved options (an
 * rx operator's subscriptions), and engines made by separate calls over the same model (one per
 * session), keep one copy, not one each. With the options over it ({@link optionsOverCopy}); a
 * fresh copy once the last holder released the previous one; null where {@link ArenaWeights.copy}
 * makes none.
 */
export function sharedCopy(arena: WasmArena, o: ResolvedOptions): { readonly copy: ArenaWeights; readonly options: ResolvedOptions } | null {
  const known = shared.get(o);
  if (known !== undefined && known.copy.live) return { copy: known.copy.retain(), options: known.options };
  const matrices = engineMatrices(o);
  if (matrices === null) return null;
  const key = `${matrices.dtype} ${matrices.given.map(({ name, rows, cols }) => `${name}:${rows}x${cols}`).join(' ')} ${weightsFingerprint(o)}`;
  const copies = byContent.get(arena) ?? new Map<string, WeakRef<ArenaWeights>[]>();
  byContent.set(arena, copies);
  // Released copies leave the registry here (there are as many keys as models alive: few).
  for (const [known, refs] of copies) {
    const kept = refs.filter((ref) => ref.deref()?.live === true);
    if (kept.length === 0) copies.delete(known);
    else copies.set(known, kept);
  }
  const live = copies.get(key) ?? [];
  const equal = live.map((ref) => ref.deref()!).find((copy) => copy.holds(matrices.given, matrices.dtype));
  const copy = equal?.retain() ?? ArenaWeights.copyMatrices(arena, o.threads, matrices.given, matrices.dtype);
  if (copy === null) return null;
  if (equal === undefined) live.push(new WeakRef(copy));
  copies.set(key, live);
  const made = { copy, options: optionsOverCopy(o, copy) };
  shared.set(o, made);
  return made;
}

/**
 * `o` with its matrices held only by `copy`: each of `weights.wq`, `wk`, `wv` and `wo` that `o`
 * gives reads as a fresh array copied out of the arena, so an engine on the kernels keeps one copy
 * of a layer's weights, not two (a decoder's layers' matrices are most of its memory). The biases
 * stay as they are: the kernels add them from TypeScript.
 */
function optionsOverCopy(o: ResolvedOptions, copy: ArenaWeights): ResolvedOptions {
  const w = o.weights!;
  const matrix = (name: Projection): PropertyDescriptor => (w[name] === null ? { enumerable: true, value: null } : readFrom(copy, name));
  const bias = (name: 'bq' | 'bk' | 'bv' | 'bo'): PropertyDescriptor => ({ enumerable: true, value: w[name] });
  // In resolveOptions' order, matrices first.
  const weights = Object.defineProperties(
    {},
    { wq: matrix('wq'), wk: matrix('wk'), wv: matrix('wv'), wo: matrix('wo'), bq: bias('bq'), bk: bias('bk'), bv: bias('bv'), bo: bias('bo') },
  ) as NonNullable<ResolvedOptions['weights']>;
  return Object.freeze({ ...o, weights: Object.freeze(weights) });
}

/**
 * A getter of matrix `name` copied out of `copy`. Made out here: a getter made inside
 * optionsOverCopy would share its scope, and so keep `o`'s own matrices alive beside the arena's.
 */
function readFrom(copy: ArenaWeights, name: Projection): PropertyDescriptor {
  return { enumerable: true, get: () => copy.copyOut(name) };
}
