import type { WasmArena } from '../kernels/wasm/wasm-arena.js';
import type { KVBlock } from './kv-block.js';

interface Regions {
  readonly arena: WasmArena;
  readonly keys: number;
  readonly values: number;
  readonly bytes: number;
}

// A block a fork dropped without dispose() is never released by the cache: give its memory back
// when the block itself is collected.
const collected = new FinalizationRegistry<Regions>(({ arena, keys, values, bytes }) => {
  arena.release(keys, bytes, 'keys');
  arena.release(values, bytes, 'values');
});

/**
 * A float32 {@link KVBlock} whose keys and values live in the {@link WasmArena}'s memory, for the
 * SIMD kernels to read in place. The arrays are views, re-derived after the memory grows (which
 * detaches the old ones); the block's shape and its other fields are those of any block. Made
 * while the arena is full, it holds plain arrays ({@link ArenaBlock.outside}) until it moves in.
 */
export class ArenaBlock implements KVBlock {
  readonly keyScalesByteOffset = 0;
  readonly valueScalesByteOffset = 0;
  readonly keysInt8 = null;
  readonly keyScales = null;
  readonly keyFloor = null;
  readonly valuesInt8 = null;
  readonly valueScales = null;
  readonly queries: Float32Array | null;
  refs = 1;
  private readonly arena: WasmArena;
  private readonly length: number;
  private keysAt: number;
  private valuesAt: number;
  private generation = -1;
  private keyView: Float32Array;
  private valueView: Float32Array;

  /**
   * A block of `length` floats each of keys and values, or null when the arena is full; zeros
   * unless `zeroed` is false (a copy about to be written whole: reused memory keeps old numbers).
   */
  static allocate(arena: WasmArena, length: number, queries: Float32Array | null, zeroed = true): ArenaBlock | null {
    const at = claim(arena, 4 * length, zeroed);
    return at === null ? null : new ArenaBlock(arena, length, at[0], at[1], queries);
  }

  /**
   * A block whose keys and values are plain arrays for now (these, or zeros), made while the arena
   * is full: {@link ArenaBlock.moveIn} moves them in later, in place, so every fork holding the
   * block reads it from the arena again.
   */
  static outside(arena: WasmArena, length: number, queries: Float32Array | null, keys = new Float32Array(length), values = new Float32Array(length)): ArenaBlock {
    const block = new ArenaBlock(arena, length, -1, -1, queries);
    block.keyView = keys;
    block.valueView = values;
    return block;
  }

  private constructor(arena: WasmArena, length: number, keys: number, values: number, queries: Float32Array | null) {
    this.arena = arena;
    this.length = length;
    this.keysAt = keys;
    this.valuesAt = values;
    this.queries = queries;
    this.keyView = new Float32Array(0);
    this.valueView = new Float32Array(0);
    if (keys >= 0) collected.register(this, { arena, keys, values, bytes: 4 * length }, this);
  }

  /** -1 while the block is outside the arena. */
  get keysByteOffset(): number {
    return this.keysAt;
  }

  get valuesByteOffset(): number {
    return this.valuesAt;
  }

  get keys(): Float32Array {
    if (this.keysAt >= 0 && this.generation !== this.arena.generation) this.refresh();
    return this.keyView;
  }

  set keys(_: Float32Array | Float64Array | null) {
    throw new TypeError('an arena block keeps float32 keys: int8 caches use ArenaInt8Block');
  }

  get values(): Float32Array {
    if (this.valuesAt >= 0 && this.generation !== this.arena.generation) this.refresh();
    return this.valueView;
  }

  set values(_: Float32Array | Float64Array | null) {
    throw new TypeError('an arena block keeps float32 values: int8 caches use ArenaInt8Block');
  }

  /** Moves a block made {@link ArenaBlock.outside} into the arena when it has room; whether it is there. */
  moveIn(): boolean {
    if (this.keysAt >= 0) return true;
    const at = claim(this.arena, 4 * this.length, false);
    if (at === null) return false;
    const [keys, values] = [this.keyView, this.valueView];
    [this.keysAt, this.valuesAt] = at;
    this.refresh();
    this.keyView.set(keys);
    this.valueView.set(values);
    collected.register(this, { arena: this.arena, keys: this.keysAt, values: this.valuesAt, bytes: 4 * this.length }, this);
    return true;
  }

  /** Gives the memory back to the arena; the block must not be used afterwards. */
  free(): void {
    if (this.keysAt < 0) return;
    collected.unregister(this);
    this.arena.release(this.keysAt, 4 * this.length, 'keys');
    this.arena.release(this.valuesAt, 4 * this.length, 'values');
  }

  private refresh(): void {
    const buffer = this.arena.buffer;
    this.keyView = new Float32Array(buffer, this.keysAt, this.length);
    this.valueView = new Float32Array(buffer, this.valuesAt, this.length);
    this.generation = this.arena.generation;
  }
}

/** Regions of `bytes` for a block's keys and its values, or null (nothing taken) when the arena is full. */
function claim(arena: WasmArena, bytes: number, zeroed: boolean): [number, number] | null {
  const keys = arena.allocate(bytes, 'keys', zeroed);
  if (keys < 0) return null;
  const values = arena.allocate(bytes, 'values', zeroed);
  if (values >= 0) return [keys, values];
  arena.release(keys, bytes, 'keys');
  return null;
}
