import type { FloatArray } from '../kernels/float-array.js';
import { projectInArena } from '../kernels/wasm/project-in-arena.js';
import type { ProjectKernel } from '../kernels/wasm/project-in-arena.js';
import type { WasmArena } from '../kernels/wasm/wasm-arena.js';
import type { ResolvedOptions } from './options.js';

/** Which projection: the query, key, value or output matrix. */
export type Projection = 'wq' | 'wk' | 'wv' | 'wo';

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
export const WEIGHTS_BUDGET = 2 ** 31;

/** Bytes of weight copies each arena holds. */
const held = new WeakMap<WasmArena, number>();

function giveBack({ arena, offset, bytes }: Region): void {
  arena.release(offset, bytes);
  held.set(arena, held.get(arena)! - bytes);
}

// An engine dropped without dispose() never releases its matrices: give their memory back when
// the last holder of the copy is collected.
const collected = new FinalizationRegistry<Region>(giveBack);

/**
 * An engine's float32 projection matrices copied once into the kernel arena, where the
 * WebAssembly `project` kernel reads them: a single push projects at SIMD speed in float32
 * arithmetic instead of in TypeScript loops summing in float64 (over ten times faster at dim 512;
 * docs/math.md bounds the difference), and a prompt no longer copies each matrix into the arena
 * per call. A token's projections are the same bit for bit alone or in a prompt.
 *
 * With a thread pool, each product is split across its threads (a prompt's tokens, or a single
 * token's rows), every number as on one thread.
 *
 * The copy doubles the weights' memory; it lives in the same arena as the caches (4 GiB at most in
 * all), where copies hold at most {@link WEIGHTS_BUDGET} together, and an engine whose copy does not
 * fit projects in TypeScript. An engine and its forks share one copy, counted by
 * {@link ArenaWeights.retain} and {@link ArenaWeights.release}.
 */
export class ArenaWeights {
  private readonly arena: WasmArena;
  /** The arena's kernel, or the engine's thread pool's split of it. */
  private readonly kernel: ProjectKernel;
  private readonly shapes: Readonly<Record<Projection, { readonly rows: number; readonly cols: number }>>;
  private readonly offsets: Readonly<Record<Projection, number>>;
  /** The copy's region of the arena: its byte offset and size. */
  readonly offset: number;
  readonly bytes: number;
  private refs = 1;

  /**
   * Copies the float32 matrices of `o` into `arena`; null in seed mode, for float64 weights, or
   * when the arena cannot hold them within `budget` bytes of copies in all.
   */
  static copy(arena: WasmArena, o: ResolvedOptions, budget = WEIGHTS_BUDGET): ArenaWeights | null {
    const weights = o.weights;
    if (weights === null || o.precision !== 'float32') return null;
    const matrices: [Projection, FloatArray | null][] = [['wq', weights.wq], ['wk', weights.wk], ['wv', weights.wv], ['wo', weights.wo]];
    // Each matrix 16-byte aligned, for the kernel's vector loads.
    const sizes = matrices.map(([, m]) => (m === null ? 0 : 16 * Math.ceil(m.length / 4)));
    const bytes = sizes.reduce((a, b) => a + b, 0);
    // Weights without any matrix (a caller who projects, no wo) leave nothing to copy.
    if (bytes === 0) return null;
    const before = held.get(arena) ?? 0;
    if (before + bytes > budget) return null;
    const offset = arena.allocate(bytes);
    if (offset < 0) return null;
    held.set(arena, before + bytes);
    const { f32 } = arena.views();
    const offsets: Record<Projection, number> = { wq: -1, wk: -1, wv: -1, wo: -1 };
    let at = offset;
    matrices.forEach(([name, m], i) => {
      if (m === null) return;
      f32.set(m, at >>> 2);
      offsets[name] = at;
      at += sizes[i]!;
    });
    return new ArenaWeights(arena, o, offsets, { arena, offset, bytes });
  }

  private constructor(arena: WasmArena, o: ResolvedOptions, offsets: Record<Projection, number>, region: Region) {
    this.arena = arena;
    const pool = o.threads;
    this.kernel = pool === null ? arena.project : (out, x, w, n, rows, cols) => pool.project(out, x, w, n, rows, cols);
    const qWidth = o.heads * o.headDim;
    const kvWidth = o.kvHeads * o.headDim;
    this.shapes = {
      wq: { rows: qWidth, cols: o.dim },
      wk: { rows: kvWidth, cols: o.dim },
      wv: { rows: kvWidth, cols: o.dim },
      wo: { rows: o.dim, cols: qWidth },
    };
    this.offsets = offsets;
    this.offset = region.offset;
    this.bytes = region.bytes;
    collected.register(this, region, this);
  }

  /**
   * `out[n×rows] = X[n×cols] · Wᵀ` for each `[which, out]` (X's first n rows; the projections share
   * X's width: wq, wk and wv, or wo alone), X laid out in the arena once for all of them; false,
   * computing nothing, when the arena's scratch cannot grow (the caller then projects in TypeScript).
   */
  project(products: readonly (readonly [Projection, FloatArray])[], x: Float64Array, n: number): boolean {
    const cols = this.shapes[products[0]![0]].cols;
    return projectInArena(
      this.arena,
      x,
      n,
      cols,
      products.map(([which, out]) => ({ w: this.offsets[which], rows: this.shapes[which].rows, out })),
      this.kernel,
    );
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
