import { ATTENTION_WASM_BASE64, ATTENTION_WASM_FUSED_BASE64, ATTENTION_WASM_FUSED_SHARED_BASE64, ATTENTION_WASM_SHARED_BASE64 } from './attention-wasm.generated.js';
import { allFinite } from '../all-finite.js';
import { OffsetHeap } from './offset-heap.js';
import type { StepJob } from './step-job.js';

// Present in browsers and Node ≥ 16; declared here because the core compiles against plain ES2022.
declare function atob(data: string): string;
/** A WebAssembly.Memory; its buffer is a SharedArrayBuffer when the memory is shared. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Memory: new (descriptor: { initial: number; maximum: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

/** Views of a whole arena memory, as of one generation. */
export interface ArenaViews {
  readonly i32: Int32Array;
  readonly f32: Float32Array;
  readonly f64: Float64Array;
}

const PAGE = 65536;
/** 4 GiB, all a 32-bit memory can address. */
const MAXIMUM_PAGES = 65536;
const INITIAL_PAGES = 16;
/** Numbers {@link WasmArena.allFinite} checks per kernel call: its region's size (128 KB at most). */
const CHECK_CHUNK = 16384;
/**
 * Where a region comes from: cache blocks' keys and values from pools of their own
 * ({@link WasmArena.allocate}), everything else from the common free lists.
 */
export type ArenaPool = 'common' | 'keys' | 'values';
const POOL_INDEX: Record<ArenaPool, number> = { common: 0, keys: 1, values: 2 };
const POOL_NAMES: readonly ArenaPool[] = ['common', 'keys', 'values'];
/** Sizes stay below 2³²: one number keys a free list by its pool and its regions' size. */
const listKey = (pool: ArenaPool, size: number): number => POOL_INDEX[pool] * 2 ** 32 + size;
const sizeOfList = (key: number): number => key % 2 ** 32;
const poolOfList = (key: number): ArenaPool => POOL_NAMES[Math.floor(key / 2 ** 32)]!;
/** A keys or values pool takes fresh regions from the top this many bytes at a time (whole regions, at most 16). */
const POOL_RUN_BYTES = 262144;
const POOL_RUN_REGIONS = 16;
/**
 * After a join of free regions that made no room, a failed take at the limit joins again after one
 * release per this many free regions (at most MAX_JOIN_GAP releases): a join sorts them all.
 */
const REGIONS_PER_JOIN_RELEASE = 1024;
/** The most releases room that only a join makes waits for: so few that its blocks move in soon. */
const MAX_JOIN_GAP = 32;

/**
 * The WebAssembly SIMD kernels (src/kernels/wasm/attention.wat) and the memory they read: every
 * float32 cache block of an engine on the WebAssembly path lives here, so a decode step calls the
 * kernels on the cache in place and copies nothing.
 *
 * One arena serves the whole process (engines run one at a time on a thread). Regions come from
 * free lists per size, then from the top of the memory, which grows on demand. Growing detaches
 * every view made before it, so holders keep byte offsets and re-derive views when
 * {@link WasmArena.generation} changes.
 */
export class WasmArena {
  /** `out[r] = scale · q·k_r` for `count` contiguous float32 key rows; q is float32, out float64. */
  readonly scores: (q: number, keys: number, count: number, headDim: number, scale: number, out: number) => void;
  /**
   * `e[j] = e^(s[j] − max)` (float32) for `count` float64 scores; writes max and the float64 sum Σ e
   * to `partial[0]`, `partial[1]` and returns the sum, non-finite when a score was.
   */
  readonly exponentiate: (scores: number, count: number, exponentials: number, partial: number) => number;
  /**
   * `s → cap · tanh(s / cap)` over `count` float64 scores in place, tanh in float64 within a few
   * ulps of Math.tanh; ±∞ become ±cap, NaN stays NaN (the `scoreCap` option).
   */
  readonly capScores: (scores: number, count: number, cap: number) => void;
  /**
   * `n` products of two float32 rows, `q` and `s` (a query head and a block's key scales, or a
   * block's weights and its value scales), as integers for the int8 kernels: v_c = round(q_c·s_c /
   * unit) with unit = max_c|q_c·s_c| / 2^29, stored at `qv` as int16 halves, v >> 15 (n of them,
   * and a 0 when n is odd), then v & 0x7fff (the same). Returns the unit.
   */
  readonly quantizeProducts: (qv: number, q: number, s: number, n: number) => number;
  /**
   * `out[r] = scale · (unit · Σ_c v_c·k8_rc)` for `count` contiguous int8 key rows against the
   * integers {@link WasmArena.quantizeProducts} made; the sums are exact, out float64.
   */
  readonly scoresInt8: (qv: number, keys: number, count: number, headDim: number, scale: number, unit: number, out: number) => void;
  /**
   * `out[c] += unit·Σ_r W_r·v8_rc` over `count` contiguous int8 value rows of `headDim`, W_r =
   * round(w[r]·s[r] / unit) with unit = max_r w[r]·s[r] / 2^29 (w the float32 weights, s the
   * rows' float32 scales), the sums exact; `ws` is scratch where {@link WasmArena.quantizeProducts}
   * puts the W (4 bytes a row, 4 more for an odd count). Returns the unit.
   */
  readonly mixInt8: (weights: number, values: number, scales: number, count: number, headDim: number, out: number, ws: number) => number;
  /**
   * `out += Σ_r w[r]·v_r` over `count` float32 value rows from slot `slot` of a kv head's values in
   * a block, laid out in column chunks `chunkBytes` apart (src/cache/value-layout.ts); w is float32,
   * out float64.
   */
  readonly mix: (weights: number, values: number, slot: number, count: number, headDim: number, chunkBytes: number, out: number) => void;
  /**
   * Items `[i0, i1)` of the step laid out by a {@link StepJob} at byte offset `job` (each a head
   * over a stretch of its keys); returns the lowest head whose scores overflowed, or -1.
   */
  readonly attend: (job: number, i0: number, i1: number) => number;
  /**
   * The head outputs of the step laid out at `job` after `attend` ran over all its items: each
   * head's partial sums times their float64 `factors` (one per item), added stretch by stretch,
   * stored at `out` as float64, or float32 when `narrow` is 1. Returns 1 when every number stored
   * is finite, else 0.
   */
  readonly merge: (job: number, heads: number, factors: number, out: number, narrow: number) => number;
  /** `out[n×rows] = X[n×cols] · Wᵀ`, all float32, in float32 arithmetic of one order per output; four tokens to a pass over W. */
  readonly project: (out: number, x: number, w: number, n: number, rows: number, cols: number) => void;
  /**
   * `project` over a matrix of bfloat16 weights (each the upper half of a float32, `2·cols` bytes a
   * row): every output the same bits as `project` over the float32s they stand for.
   */
  readonly projectBf16: (out: number, x: number, w: number, n: number, rows: number, cols: number) => void;
  /**
   * `project` over a matrix of IEEE binary16 weights (`2·cols` bytes a row): every output the same
   * bits as `project` over the float32s they stand for.
   */
  readonly projectF16: (out: number, x: number, w: number, n: number, rows: number, cols: number) => void;
  /** `dst[count]` = the bfloat16 weights at `src` as float32s, exactly; `dst` has room for `count` rounded up to four. */
  readonly widenBf16: (dst: number, src: number, count: number) => void;
  /**
   * `dst[count]` = the binary16 weights at `src` as float32s, exactly (but for Infinity and NaN,
   * which no weight is: resolveOptions refuses them); `dst` has room for `count` rounded up to four.
   */
  readonly widenF16: (dst: number, src: number, count: number) => void;
  /** 1 when the `count` numbers at `at` (float32, float64 when `wide` is 1) are all finite, else 0. */
  private readonly finite: (at: number, count: number, wide: number) => number;
  /** Zeroes `bytes` bytes at byte offset `at` (TypedArray.fill is element by element over a shared memory). */
  private readonly zero: (at: number, bytes: number) => void;
  private readonly storeRowsKernel: (k: number, v: number, keys: number, values: number, kvHeads: number, headDim: number, blockSize: number, slot: number) => void;
  /** The memory every region lives in; shared (its buffer a SharedArrayBuffer) for a thread pool's arena. */
  readonly memory: WasmMemory;
  /** The compiled kernels, which a thread pool instantiates again on each worker over the same memory. */
  readonly module: object;
  /** Free regions by pool and size ({@link freeList}), each taken lowest offset first. */
  private readonly free = new Map<number, OffsetHeap>();
  private top = 16;
  /** The scratch regions ({@link WasmArena.scratch}), by slot. */
  private readonly scratchRegions: { offset: number; bytes: number }[] = [];
  /**
   * A region of its own for copies the kernels read at once ({@link WasmArena.allFinite},
   * {@link WasmArena.storeRows}), which may run while a step's scratch is in use.
   */
  private readonly staging = { offset: 0, bytes: 0 };
  private generationCount = 0;
  private releaseCount = 0;
  /** The release count from which a failed take may join free regions again ({@link WasmArena.cutFromLarger}). */
  private nextJoin = 0;
  private currentViews: ArenaViews = { i32: new Int32Array(0), f32: new Float32Array(0), f64: new Float64Array(0) };

  /**
   * Whether the kernels are the fused build: every f32x4 product-add one relaxed-SIMD
   * `relaxed_madd` (a fused multiply-add where the hardware has one), chosen wherever the runtime
   * validates relaxed SIMD (Node 22+, Chrome 114+; Node 20 only behind
   * `--experimental-wasm-relaxed-simd`). Every path of a process runs the same build, so results
   * agree bit for bit within a process as before; between hosts they may differ in the last bits.
   */
  readonly fused: boolean;

  /** `bytes`: the kernels' module; `shared`: whether it imports a shared memory (the shared build); `fused`: whether `bytes` is the fused build. */
  constructor(bytes: Uint8Array, shared = false, fused = false) {
    this.fused = fused;
    this.memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, ...(shared ? { shared } : {}) });
    this.module = new WebAssembly.Module(bytes);
    const instance = new WebAssembly.Instance(this.module, { env: { memory: this.memory } });
    this.scores = instance.exports['scores'] as WasmArena['scores'];
    this.exponentiate = instance.exports['exponentiate'] as WasmArena['exponentiate'];
    this.capScores = instance.exports['cap_scores'] as WasmArena['capScores'];
    this.mix = instance.exports['mix'] as WasmArena['mix'];
    this.quantizeProducts = instance.exports['quantize_products'] as WasmArena['quantizeProducts'];
    this.scoresInt8 = instance.exports['scores_int8'] as WasmArena['scoresInt8'];
    this.mixInt8 = instance.exports['mix_int8'] as WasmArena['mixInt8'];
    this.attend = instance.exports['attend'] as WasmArena['attend'];
    this.merge = instance.exports['merge'] as WasmArena['merge'];
    this.project = instance.exports['project'] as WasmArena['project'];
    this.projectBf16 = instance.exports['project_bf16'] as WasmArena['projectBf16'];
    this.projectF16 = instance.exports['project_f16'] as WasmArena['projectF16'];
    this.widenBf16 = instance.exports['widen_bf16'] as WasmArena['widenBf16'];
    this.widenF16 = instance.exports['widen_f16'] as WasmArena['widenF16'];
    this.finite = instance.exports['finite'] as WasmArena['finite'];
    this.storeRowsKernel = instance.exports['store_rows'] as WasmArena['storeRowsKernel'];
    this.zero = instance.exports['zero'] as WasmArena['zero'];
  }

  /** The memory's current buffer: views on it stay valid until the generation changes. */
  get buffer(): ArrayBuffer {
    return this.memory.buffer;
  }

  /** Counts the growths of the memory; a view made at an older generation is detached. */
  get generation(): number {
    return this.generationCount;
  }

  /** Counts the regions given back: room may have come free since a count at which it had none. */
  get releases(): number {
    return this.releaseCount;
  }

  /**
   * Int32, float32 and float64 views of the whole memory, made again only after it grew: valid until
   * the next {@link WasmArena.allocate} or {@link WasmArena.scratch}.
   */
  views(): ArenaViews {
    const buffer = this.memory.buffer;
    if (this.currentViews.f64.buffer !== buffer) {
      this.currentViews = { i32: new Int32Array(buffer), f32: new Float32Array(buffer), f64: new Float64Array(buffer) };
    }
    return this.currentViews;
  }

  /**
   * The byte offset of a zeroed region of `bytes` bytes, 16-byte aligned, or -1 when the memory
   * cannot grow that far (the caller then keeps its data in plain arrays). `zeroed` false skips
   * zeroing a reused region, for a caller that writes all of it.
   *
   * A cache block's keys and its values come from the `'keys'` and `'values'` pools, which take
   * fresh regions from the top several at a time (up to 256 KiB, 16 regions) and hand out their
   * free regions lowest offset first. So consecutive blocks' keys lie one after another, and their
   * values too, instead of alternating key block, value block: a step reads keys in long runs of
   * memory, then values. Read from memory (caches cold, as for each layer of a deep model), one kv
   * head of 64 over 8,192 keys in 64-row blocks took 0.68× the time, over 32,768 keys 0.72×, two
   * kv heads 0.80×; eight kv heads' blocks already lie in 128 KiB stretches, and took the same.
   */
  allocate(bytes: number, pool: ArenaPool = 'common', zeroed = true): number {
    const size = roundUp(bytes);
    const list = this.freeList(pool, size);
    const reused = list.pop();
    if (reused !== undefined) {
      if (zeroed) this.zero(reused, size);
      return reused;
    }
    const take = (mayGrow: boolean): number => (pool === 'common' ? this.grab(size, mayGrow) : this.grabRun(list, size, mayGrow));
    const fresh = take(false);
    if (fresh >= 0) return fresh;
    const cut = this.cutFromLarger(size);
    if (cut >= 0) {
      if (zeroed) this.zero(cut, size);
      return cut;
    }
    return take(true);
  }

  /**
   * Before the memory grows (and at its limit): `size` bytes cut from the smallest free region of
   * any pool that holds them (joining neighbouring free regions first when none does), the rest of
   * it freed again, or -1. Regions freed at one size would otherwise never serve another (engines
   * of other shapes, a step's scratch growing): a process cycling through model shapes (a property
   * test's random ones) grew the memory towards its 4 GiB while holding a few MB.
   */
  private cutFromLarger(size: number): number {
    const cut = this.cutFromFree(size);
    if (cut >= 0 || this.releaseCount < this.nextJoin) return cut;
    const regions = this.coalesce();
    const joined = this.cutFromFree(size);
    // A join sorts every free region. At the limit with tens of thousands of them in holes no
    // release fills, joining after every release cost a session held outside 1–12 ms a call; with
    // a few hundred it costs little, and waiting for more releases kept blocks outside that a
    // release had made room for. So the wait grows with the regions to sort.
    const gap = joined >= 0 ? 1 : Math.min(MAX_JOIN_GAP, Math.ceil(regions / REGIONS_PER_JOIN_RELEASE));
    this.nextJoin = this.releaseCount + gap;
    return joined;
  }

  /**
   * Joins neighbouring free regions (of any pool, into the common one): regions cut apart, or
   * freed at their own sizes side by side, serve a larger request again. Only an allocation that
   * finds no region at the memory's limit asks, as often as {@link WasmArena.cutFromLarger} lets it.
   * Returns how many free regions there are after it.
   */
  private coalesce(): number {
    const regions: [number, number][] = [];
    for (const [key, list] of this.free) for (const offset of list.offsets()) regions.push([offset, sizeOfList(key)]);
    this.free.clear();
    regions.sort((a, b) => a[0] - b[0]);
    let joined = 0;
    let [start, size] = regions[0] ?? [0, 0];
    for (const [offset, bytes] of regions.slice(1)) {
      if (start + size === offset) size += bytes;
      else {
        this.addFree(start, size, 'common');
        joined++;
        [start, size] = [offset, bytes];
      }
    }
    if (size > 0) this.addFree(start, size, 'common');
    return size > 0 ? joined + 1 : joined;
  }

  /** `size` bytes from the smallest free region of any pool that holds them, the rest of it freed again, or -1. */
  private cutFromFree(size: number): number {
    let best: OffsetHeap | null = null;
    let bestSize = Infinity;
    let bestPool: ArenaPool = 'common';
    for (const [key, list] of this.free) {
      const regionSize = sizeOfList(key);
      if (list.size === 0 || regionSize < size || regionSize >= bestSize) continue;
      best = list;
      bestSize = regionSize;
      bestPool = poolOfList(key);
    }
    if (best === null) return -1;
    const offset = best.pop()!;
    // Back to its list without counting as a release: no room came free.
    if (bestSize > size) this.addFree(offset + size, bestSize - size, bestPool);
    return offset;
  }

  /** Returns a region from {@link WasmArena.allocate} (with the same pool) for reuse. */
  release(offset: number, bytes: number, pool: ArenaPool = 'common'): void {
    this.releaseCount++;
    this.addFree(offset, roundUp(bytes), pool);
  }

  private addFree(offset: number, size: number, pool: ArenaPool): void {
    this.freeList(pool, size).push(offset);
  }

  private freeList(pool: ArenaPool, size: number): OffsetHeap {
    const key = listKey(pool, size);
    let list = this.free.get(key);
    if (list === undefined) this.free.set(key, (list = new OffsetHeap()));
    return list;
  }

  /** A fresh region of `size` bytes for a keys or values pool, whose empty `list` keeps the rest of its run. */
  private grabRun(list: OffsetHeap, size: number, mayGrow: boolean): number {
    const regions = Math.max(1, Math.min(POOL_RUN_REGIONS, Math.floor(POOL_RUN_BYTES / size)));
    const base = regions > 1 ? this.grab(regions * size, mayGrow) : -1;
    // Short of memory for the whole run, one region is still worth having.
    if (base < 0) return this.grab(size, mayGrow);
    for (let i = 1; i < regions; i++) list.push(base + i * size);
    return base;
  }

  /** `size` bytes from the top of the memory (never used before, so zero), grown as needed when `mayGrow`, or -1. */
  private grab(size: number, mayGrow: boolean): number {
    const end = this.top + size;
    if (end > this.memory.buffer.byteLength) {
      if (!mayGrow) return -1;
      const have = this.memory.buffer.byteLength / PAGE;
      const need = Math.ceil(end / PAGE);
      // Double at least, so a stream of small blocks grows the memory O(log n) times.
      const pages = Math.min(MAXIMUM_PAGES, Math.max(need, 2 * have)) - have;
      if (have + pages < need) return -1;
      try {
        this.memory.grow(pages);
      } catch {
        return -1;
      }
      this.generationCount++;
    }
    const offset = this.top;
    this.top = end;
    return offset;
  }

  /**
   * The byte offset of a scratch region of at least `bytes` bytes, shared by every engine (only one
   * attends at a time): the query, scores and head outputs of one step, or a projection's rows.
   * Slots past 0 are further regions, for steps laid out side by side (a prompt's queries attended
   * together); each keeps its room for the next use. -1 when it cannot grow.
   */
  scratch(bytes: number, slot = 0): number {
    const regions = this.scratchRegions;
    while (regions.length <= slot) regions.push({ offset: 0, bytes: 0 });
    return this.reserve(regions[slot]!, bytes);
  }

  /**
   * Whether every number of `values` is finite, by the `finite` kernel over copies in the arena,
   * {@link CHECK_CHUNK} numbers at a time (so a long prompt's check holds no more memory): the
   * engine's check of each vector it takes in and each projection it makes, ~10x faster than a
   * TypeScript loop at dim 512. The TypeScript loop answers when the copy cannot be made.
   */
  allFinite(values: Float32Array | Float64Array): boolean {
    const wide = values instanceof Float64Array;
    const at = this.reserve(this.staging, Math.min(values.length, CHECK_CHUNK) * values.BYTES_PER_ELEMENT);
    if (at < 0) return allFinite(values, 0, values.length);
    const views = this.views();
    for (let from = 0; from < values.length; from += CHECK_CHUNK) {
      const chunk = from === 0 && values.length <= CHECK_CHUNK ? values : values.subarray(from, from + CHECK_CHUNK);
      if (wide) views.f64.set(chunk, at >>> 3);
      else views.f32.set(chunk, at >>> 2);
      if (this.finite(at, chunk.length, wide ? 1 : 0) !== 1) return false;
    }
    return true;
  }

  /**
   * Stores one token's key and value rows (`kvHeads·headDim` float32s each, kv head after kv head)
   * as slot `slot` of a float32 block whose keys and values are at byte offsets `keys` and
   * `values`: keys row after row, values in column chunks (src/cache/value-layout.ts). False,
   * storing nothing, when the rows cannot be staged in the arena (the caller stores them itself).
   */
  storeRows(k: Float32Array, v: Float32Array, keys: number, values: number, kvHeads: number, headDim: number, blockSize: number, slot: number): boolean {
    const n = kvHeads * headDim;
    const at = this.reserve(this.staging, 8 * n);
    if (at < 0) return false;
    const { f32 } = this.views();
    f32.set(k.length === n ? k : k.subarray(0, n), at >>> 2);
    f32.set(v.length === n ? v : v.subarray(0, n), (at >>> 2) + n);
    this.storeRowsKernel(at, at + 4 * n, keys, values, kvHeads, headDim, blockSize, slot);
    return true;
  }

  /**
   * The byte offset of `region`, grown first to at least `bytes` (doubling, so a growing need asks
   * O(log n) times), or -1 when the memory cannot grow that far.
   */
  private reserve(region: { offset: number; bytes: number }, bytes: number): number {
    if (bytes <= region.bytes) return region.offset;
    const size = Math.max(roundUp(bytes), 2 * region.bytes);
    const offset = this.allocate(size);
    if (offset < 0) return -1;
    if (region.bytes > 0) this.release(region.offset, region.bytes);
    region.offset = offset;
    region.bytes = size;
    return offset;
  }
}

function roundUp(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

let arena: WasmArena | null | undefined;

/**
 * The process's {@link WasmArena}, created on first use, or null where WebAssembly SIMD is missing
 * (the engines then run the TypeScript kernels).
 */
export function wasmArena(): WasmArena | null {
  if (arena !== undefined) return arena;
  arena = null;
  try {
    const kernels = kernelBytes(ATTENTION_WASM_FUSED_BASE64, ATTENTION_WASM_BASE64);
    if (kernels !== null) arena = new WasmArena(kernels.bytes, false, kernels.fused);
  } catch {
    arena = null;
  }
  return arena;
}

/**
 * A new arena over a shared memory, for a thread pool whose workers run the kernels on the same
 * cache; null where WebAssembly SIMD or shared memory is missing (a browser page that is not
 * cross-origin isolated has no SharedArrayBuffer).
 */
export function sharedWasmArena(): WasmArena | null {
  try {
    const kernels = kernelBytes(ATTENTION_WASM_FUSED_SHARED_BASE64, ATTENTION_WASM_SHARED_BASE64);
    return kernels === null ? null : new WasmArena(kernels.bytes, true, kernels.fused);
  } catch {
    return null;
  }
}

/** The fused build where the runtime validates it, else the plain one where it validates, else null. */
function kernelBytes(fused: string, plain: string): { bytes: Uint8Array; fused: boolean } | null {
  if (typeof WebAssembly !== 'object' || typeof atob !== 'function') return null;
  for (const [text, isFused] of [[fused, true], [plain, false]] as const) {
    const bytes = decodeBase64(text);
    if (WebAssembly.validate(bytes)) return { bytes, fused: isFused };
  }
  return null;
}

/** Whether this runtime runs the WebAssembly SIMD kernels (what `kernels: 'auto'` picks them by). */
export function wasmKernelsAvailable(): boolean {
  return wasmArena() !== null;
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
