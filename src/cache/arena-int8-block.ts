import type { ArenaPool, WasmArena } from '../kernels/wasm/wasm-arena.js';
import type { KVBlock } from './kv-block.js';

/** The arena regions a block holds now, by name: byte offset and size, mutable as keys change form. */
type Regions = { arena: WasmArena; held: Map<Region, { offset: number; bytes: number }> };
type Region = 'keys' | 'keysInt8' | 'keyScales' | 'valuesInt8' | 'valueScales';
/** The arena pool of each region: keys and values in pools of their own, laid out block after block. */
const POOLS: Record<Region, ArenaPool> = { keys: 'keys', keysInt8: 'keys', keyScales: 'common', valuesInt8: 'values', valueScales: 'common' };

// A block a fork dropped without dispose() is never released by the cache: give its memory back
// when the block itself is collected.
const collected = new FinalizationRegistry<Regions>(({ arena, held }) => {
  for (const [region, { offset, bytes }] of held) arena.release(offset, bytes, POOLS[region]);
});

/** What assigning an array to an {@link ArenaInt8Block} throws when the arena cannot grow to hold it (4 GiB). */
export class ArenaFullError extends RangeError {}

/**
 * An int8 {@link KVBlock} (the KIVI split: float32 keys while the block fills, then int8 keys with a
 * scale per channel; int8 values with a scale per token) whose arrays live in the
 * {@link WasmArena}'s memory, for the SIMD kernels to read in place. Assigning one of the arrays
 * copies it into the arena (null gives its region back), as the cache's quantize, dequantize,
 * fork and restore steps assign them on any block; the arrays read back are views, re-derived
 * after the memory grows.
 */
export class ArenaInt8Block implements KVBlock {
  readonly values = null;
  readonly queries: Float32Array | null;
  /** Small and read only when quantizing: a plain array, outside the arena. */
  keyFloor: Float32Array | null = null;
  refs = 1;
  private readonly regions: Regions;
  private readonly sizes: Record<Region, number>;
  private generation = -1;
  private readonly views = new Map<Region, Float32Array | Int8Array>();

  /**
   * A block of `kvHeads × blockSize` rows of `headDim`, float keys and int8 values (zeroed), or
   * null when the arena is full.
   */
  static allocate(arena: WasmArena, kvHeads: number, blockSize: number, headDim: number, queries: Float32Array | null): ArenaInt8Block | null {
    const block = new ArenaInt8Block(arena, kvHeads, blockSize, headDim, queries);
    for (const region of ['keys', 'valuesInt8', 'valueScales'] as const) {
      if (!block.hold(region)) {
        block.free();
        return null;
      }
    }
    return block;
  }

  private constructor(arena: WasmArena, kvHeads: number, blockSize: number, headDim: number, queries: Float32Array | null) {
    const rows = kvHeads * blockSize * headDim;
    this.sizes = { keys: 4 * rows, keysInt8: rows, keyScales: 4 * kvHeads * headDim, valuesInt8: rows, valueScales: 4 * kvHeads * blockSize };
    this.regions = { arena, held: new Map() };
    this.queries = queries;
    collected.register(this, this.regions, this);
  }

  get keys(): Float32Array | null {
    return this.view('keys') as Float32Array | null;
  }

  set keys(keys: Float32Array | Float64Array | null) {
    this.assign('keys', keys);
  }

  get keysInt8(): Int8Array | null {
    return this.view('keysInt8') as Int8Array | null;
  }

  set keysInt8(keys: Int8Array | null) {
    this.assign('keysInt8', keys);
  }

  get keyScales(): Float32Array | null {
    return this.view('keyScales') as Float32Array | null;
  }

  set keyScales(scales: Float32Array | null) {
    this.assign('keyScales', scales);
  }

  get valuesInt8(): Int8Array | null {
    return this.view('valuesInt8') as Int8Array | null;
  }

  set valuesInt8(values: Int8Array | null) {
    this.assign('valuesInt8', values);
  }

  get valueScales(): Float32Array | null {
    return this.view('valueScales') as Float32Array | null;
  }

  set valueScales(scales: Float32Array | null) {
    this.assign('valueScales', scales);
  }

  /** The float keys while the block fills, else the int8 keys. */
  get keysByteOffset(): number {
    return this.offset('keys') ?? this.offset('keysInt8') ?? -1;
  }

  get valuesByteOffset(): number {
    return this.offset('valuesInt8') ?? -1;
  }

  /** The per-channel key scales once the keys are int8; 0 while they are float. */
  get keyScalesByteOffset(): number {
    return this.offset('keys') === undefined ? (this.offset('keyScales') ?? 0) : 0;
  }

  get valueScalesByteOffset(): number {
    return this.offset('valueScales') ?? 0;
  }

  /** Gives every region back to the arena; the block must not be used afterwards. */
  free(): void {
    collected.unregister(this);
    for (const region of [...this.regions.held.keys()]) this.drop(region);
  }

  private offset(region: Region): number | undefined {
    return this.regions.held.get(region)?.offset;
  }

  private view(region: Region): Float32Array | Int8Array | null {
    const { arena, held } = this.regions;
    if (this.generation !== arena.generation) {
      this.views.clear();
      this.generation = arena.generation;
    }
    const at = held.get(region);
    if (at === undefined) return null;
    let view = this.views.get(region);
    if (view === undefined) {
      const Type = region === 'keysInt8' || region === 'valuesInt8' ? Int8Array : Float32Array;
      view = new Type(arena.buffer, at.offset, at.bytes / Type.BYTES_PER_ELEMENT);
      this.views.set(region, view);
    }
    return view;
  }

  private assign(region: Region, data: ArrayLike<number> | null): void {
    if (data === null) {
      this.drop(region);
      return;
    }
    if (!this.hold(region)) throw new ArenaFullError(`the kernels' memory cannot hold another ${this.sizes[region]} bytes`);
    const view = this.view(region)!;
    if (data.length !== view.length) throw new RangeError(`${region}: expected ${view.length} numbers, got ${data.length}`);
    view.set(data);
  }

  /** Makes sure `region` is held; false when the arena cannot grow. */
  private hold(region: Region): boolean {
    const { arena, held } = this.regions;
    if (held.has(region)) return true;
    const offset = arena.allocate(this.sizes[region], POOLS[region]);
    if (offset < 0) return false;
    held.set(region, { offset, bytes: this.sizes[region] });
    this.views.delete(region);
    return true;
  }

  private drop(region: Region): void {
    const at = this.regions.held.get(region);
    if (at === undefined) return;
    this.regions.arena.release(at.offset, at.bytes, POOLS[region]);
    this.regions.held.delete(region);
    this.views.delete(region);
  }
}
