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
 * detaches the old ones); the block's shape and its other fields are those of any block.
 */
export class ArenaBlock implements KVBlock {
  readonly keysByteOffset: number;
  readonly valuesByteOffset: number;
  readonly keyScalesByteOffset = 0;
  readonly valueScalesByteOffset = 0;
  readonly keysInt8 = null;
  readonly keyScales = null;
  readonly valuesInt8 = null;
  readonly valueScales = null;
  readonly queries: Float32Array | null;
  refs = 1;
  private readonly arena: WasmArena;
  private readonly length: number;
  private generation = -1;
  private keyView = new Float32Array(0);
  private valueView = new Float32Array(0);

  /**
   * A block of `length` floats each of keys and values, or null when the arena is full; zeros
   * unless `zeroed` is false (a copy about to be written whole: reused memory keeps old numbers).
   */
  static allocate(arena: WasmArena, length: number, queries: Float32Array | null, zeroed = true): ArenaBlock | null {
    const bytes = 4 * length;
    const keys = arena.allocate(bytes, 'keys', zeroed);
    if (keys < 0) return null;
    const values = arena.allocate(bytes, 'values', zeroed);
    if (values < 0) {
      arena.release(keys, bytes, 'keys');
      return null;
    }
    return new ArenaBlock(arena, length, keys, values, queries);
  }

  private constructor(arena: WasmArena, length: number, keys: number, values: number, queries: Float32Array | null) {
    this.arena = arena;
    this.length = length;
    this.keysByteOffset = keys;
    this.valuesByteOffset = values;
    this.queries = queries;
    collected.register(this, { arena, keys, values, bytes: 4 * length }, this);
  }

  get keys(): Float32Array {
    if (this.generation !== this.arena.generation) this.refresh();
    return this.keyView;
  }

  set keys(_: Float32Array | Float64Array | null) {
    throw new TypeError('an arena block keeps float32 keys: int8 caches use ArenaInt8Block');
  }

  get values(): Float32Array {
    if (this.generation !== this.arena.generation) this.refresh();
    return this.valueView;
  }

  set values(_: Float32Array | Float64Array | null) {
    throw new TypeError('an arena block keeps float32 values: int8 caches use ArenaInt8Block');
  }

  /** Gives the memory back to the arena; the block must not be used afterwards. */
  free(): void {
    collected.unregister(this);
    this.arena.release(this.keysByteOffset, 4 * this.length, 'keys');
    this.arena.release(this.valuesByteOffset, 4 * this.length, 'values');
  }

  private refresh(): void {
    const buffer = this.arena.buffer;
    this.keyView = new Float32Array(buffer, this.keysByteOffset, this.length);
    this.valueView = new Float32Array(buffer, this.valuesByteOffset, this.length);
    this.generation = this.arena.generation;
  }
}
