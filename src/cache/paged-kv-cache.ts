import { AttentionError } from '../errors.js';
import { beyondInt8Range, quantizeColumnsInt8, quantizeRowInt8 } from '../kernels/quantize-int8.js';
import type { FloatArray, FloatArrayConstructor } from '../kernels/index.js';
import type { WasmArena } from '../kernels/wasm/wasm-arena.js';
import { ArenaBlock } from './arena-block.js';
import { ArenaFullError, ArenaInt8Block } from './arena-int8-block.js';
import type { CacheStats } from './cache-stats.js';
import type { KVBlock } from './kv-block.js';
import { writeValueRow } from './value-layout.js';

const MAX_FREE_BLOCKS = 2;

/** The shape of what one cache slot holds. */
export interface KVCacheLayout {
  readonly kvHeads: number;
  readonly headDim: number;
  /** Numbers per stored query row; 0 when queries are not kept. */
  readonly queryWidth: number;
  readonly blockSize: number;
  readonly Float: FloatArrayConstructor;
  /** Store keys and values as int8 (keys per channel once a block fills, values per token). */
  readonly int8: boolean;
  /**
   * int8 only: how many tokens back from the stream's end `truncate` must leave the keys exactly
   * as they were. A block that fills keeps the float keys it was quantized from while a truncate
   * that far back could reach into it, so that writing into it again takes them back rather than
   * dequantized ones. Absent: 0.
   */
  readonly exactReach?: number;
  /**
   * Where float32 (or float32 and int8) keys and values go for the WebAssembly kernels; absent or
   * null: plain arrays. A block the arena cannot hold (its memory is at 4 GiB) falls back to plain
   * arrays.
   */
  readonly arena?: WasmArena | null;
}

/**
 * Keys and values of one layer, in fixed-size blocks that forks share copy-on-write.
 *
 * A logical position `p` (the token's stream index) lives in block `⌊p / blockSize⌋`, slot
 * `p mod blockSize`; a block table maps block numbers to blocks, so positions and physical
 * storage are never the same counter. Blocks outside the attendable range are released to a free
 * list and reused, which keeps memory constant on windowed streams.
 *
 * @example
 * ```ts
 * const cache = new PagedKVCache({ kvHeads: 1, headDim: 2, queryWidth: 0, blockSize: 4, Float: Float64Array });
 * cache.append(new Float64Array([1, 0]), new Float64Array([0, 1]), null);
 * const twin = cache.fork(); // O(blocks): shares block 0 until one of them writes into it
 * ```
 */
export class PagedKVCache {
  readonly layout: KVCacheLayout;
  /** Block number → block. A map, not an array, so a windowed stream's table stays small however long it runs. */
  private table: Map<number, KVBlock>;
  private free: KVBlock[];
  private len: number;
  /** Blocks below this number were already released, so a release scan starts here, not at the sinks. */
  private releasedBelow: number;
  /** Where the call {@link PagedKVCache.takeBack} can still undo began; -1 outside one. */
  private heldFrom = -1;
  /**
   * What the call changed in the block holding `heldFrom` (the one block it can write that was
   * there before it) and cannot redo: the block as shared with a fork, if the call copied it to
   * write (its count of holders is lowered only at the commit, so that no fork writes into it
   * meanwhile); its int8 keys, if the call turned them back into floats to write (after a truncate
   * into the block); its float keys, in `keysScratch`, and their floor scales, if the call filled
   * and so quantized it.
   */
  private heldShared: KVBlock | null = null;
  private heldInt8: { readonly keysInt8: Int8Array; readonly keyScales: Float32Array } | null = null;
  private heldFloatKeys = false;
  private heldFloor: Float32Array | null = null;
  /** Whether the block holding `heldFrom` was absent when the call began (a window had released it). */
  private heldAbsent = false;
  /** One block's float keys, reused for `heldFloatKeys` so that filling a block allocates nothing. */
  private keysScratch: FloatArray | null = null;
  /** How many spare blocks there were when the call began. */
  private heldSpares = 0;
  /**
   * The spare blocks the call took and changed to start them afresh: int8 keys given float keys to
   * write (an int8 cache's full blocks are kept as spares in that form), floor scales dropped. A
   * takeBack gives the ones it keeps as spares their form again, so the cache's memory is as it was.
   */
  private heldUnquantized: { readonly block: KVBlock; readonly int8: boolean; readonly keyFloor: Float32Array | null }[] = [];
  /**
   * The arena's count of released regions when this cache last made or kept a block outside it (a
   * full arena); -1 while every block it holds lives in the arena. A step over a block outside it
   * runs on the TypeScript kernels, so such blocks move in once regions come free.
   */
  private outsideAt = -1;
  /** The arena its blocks live in: the layout's, for a float32 (or int8) cache; null otherwise. */
  private readonly blockArena: WasmArena | null;
  /**
   * Block number → the float keys its int8 keys were quantized from, while a truncate within
   * `layout.exactReach` may reach into it ({@link KVCacheLayout.exactReach}). Kept by the cache,
   * not the block: forks share the arrays (never written) and each forgets them as its own stream
   * moves on, whoever else holds the block.
   */
  private exact: Map<number, FloatArray>;

  constructor(layout: KVCacheLayout, table = new Map<number, KVBlock>(), length = 0, releasedBelow = 0, exact = new Map<number, FloatArray>()) {
    this.layout = layout;
    this.blockArena = layout.Float === Float32Array ? (layout.arena ?? null) : null;
    this.table = table;
    this.exact = exact;
    this.free = [];
    this.len = length;
    this.releasedBelow = releasedBelow;
  }

  /** Tokens appended so far. */
  get length(): number {
    return this.len;
  }

  /** The block holding position `p`, or null once it was released. */
  blockAt(p: number): KVBlock | null {
    return this.table.get(Math.floor(p / this.layout.blockSize)) ?? null;
  }

  /** Whether every position in `[from, to)` is still held. */
  holds(from: number, to: number): boolean {
    const { blockSize } = this.layout;
    if (from >= to) return true;
    for (let b = Math.floor(from / blockSize); b * blockSize < to; b++) if (!this.table.has(b)) return false;
    return true;
  }

  /** The positions still held, ascending. */
  heldPositions(): number[] {
    const { blockSize } = this.layout;
    const blocks = [...this.table.keys()].sort((a, b) => a - b);
    const positions: number[] = [];
    for (const b of blocks) for (let p = b * blockSize; p < Math.min(this.len, (b + 1) * blockSize); p++) positions.push(p);
    return positions;
  }

  /**
   * Moves the end of the stream forward to `p` without caching anything in between: used when
   * restoring a windowed cache whose evicted middle is gone.
   */
  skipTo(p: number): void {
    if (p < this.len) throw new RangeError(`skipTo(${p}) is behind the stream end ${this.len}`);
    this.len = p;
  }

  /**
   * A fresh block installed as block `b`, for a restore to fill in place (int8 data is copied as
   * it was stored, not quantized again, so a restore is exact).
   */
  restoreBlock(b: number): KVBlock {
    const block = this.allocate();
    this.table.set(b, block);
    return block;
  }

  /**
   * Gives restored block `b` its quantized keys in place of float ones; returns the block, or its
   * plain-array replacement when the arena cannot hold them.
   */
  restoreQuantizedKeys(b: number, keysInt8: Int8Array, keyScales: Float32Array): KVBlock {
    return this.replaceKeys(b, this.table.get(b)!, { keys: null, keysInt8, keyScales, keyFloor: null });
  }

  /**
   * Throws what {@link PagedKVCache.append} would for rows k and v of token `token`: NON_FINITE for
   * an int8 cache's float64 entry beyond ±4.3e40 ({@link beyondInt8Range}), whose float32 scale would be
   * infinite. For callers that check a batch before changing anything.
   */
  assertStorable(k: FloatArray, v: FloatArray, token: number): void {
    if (!this.layout.int8) return;
    assertInt8Range(k, 'key', token);
    assertInt8Range(v, 'value', token);
  }

  /**
   * Gives restored block `b`, whose keys are float, the scales they were quantized on before a
   * truncate into it made them float again ({@link KVBlock.keyFloor}).
   */
  restoreKeyFloor(b: number, floor: Float32Array): void {
    this.table.get(b)!.keyFloor = floor;
  }

  /**
   * The float keys quantized block `b` was made from, kept while a truncate within
   * {@link KVCacheLayout.exactReach} may reach into it; undefined otherwise.
   */
  exactKeysOf(b: number): FloatArray | undefined {
    return this.exact.get(b);
  }

  /** Gives restored quantized block `b` the float keys it was made from ({@link PagedKVCache.exactKeysOf}). */
  restoreExactKeys(b: number, keys: FloatArray): void {
    this.exact.set(b, keys);
  }

  /**
   * Starts a call (a push, a prompt) whose appends {@link PagedKVCache.takeBack} can undo exactly,
   * until {@link PagedKVCache.commit}.
   */
  hold(): void {
    this.settle();
    this.endHold();
    this.heldFrom = this.len;
    this.heldAbsent = !this.table.has(Math.floor(this.len / this.layout.blockSize));
    this.heldSpares = this.free.length;
  }

  /** Ends the call {@link PagedKVCache.hold} started: its appends stay. Nothing to do outside one. */
  commit(): void {
    const shared = this.heldShared;
    this.endHold();
    if (shared !== null) this.release(shared);
    this.forgetUnreachable();
  }

  /**
   * Forgets the float keys of blocks from block `from` on that no truncate within the reach can
   * write into again. Inside a held call, only those of the blocks the call wrote (from the one
   * holding `heldFrom`): a takeBack returns to a shorter stream, which may reach the ones before.
   */
  private forgetUnreachable(from = 0): void {
    // Every push commits: a float cache's empty map is not iterated each time.
    if (this.exact.size === 0) return;
    const reach = this.layout.exactReach ?? 0;
    for (const b of this.exact.keys()) if (b >= from && (b + 1) * this.layout.blockSize <= this.len - reach) this.exact.delete(b);
  }

  /** Forgets the held call, so that nothing of it outlives it. */
  private endHold(): void {
    this.heldFrom = -1;
    this.heldShared = null;
    this.heldInt8 = null;
    this.heldFloatKeys = false;
    this.heldFloor = null;
    this.heldUnquantized = [];
  }

  /**
   * Drops every position appended since {@link PagedKVCache.hold}, leaving the cache as it was then:
   * bit for bit (unlike {@link PagedKVCache.truncate}, which leaves a quantized block's keys
   * dequantized where it did not keep their float keys), and in its memory too: a block the call
   * copied from a fork is shared again, and blocks it took stop being kept as spares.
   */
  takeBack(): void {
    const { heldFrom: from, heldShared: shared, heldInt8: int8, heldFloatKeys: floatKeys, heldFloor: floor, heldAbsent: absent, heldUnquantized: unquantized } = this;
    this.endHold();
    this.truncate(from);
    const b = Math.floor(from / this.layout.blockSize);
    const made = this.table.get(b);
    if (absent && made !== undefined) {
      // The call made the block afresh (truncate keeps the block holding `from`): it goes again.
      this.release(made);
      this.table.delete(b);
    } else if (shared !== null) {
      // The copy goes; the shared block, untouched and still counted for this cache, comes back.
      this.release(made!);
      this.table.set(b, shared);
    } else if (int8 !== null) {
      this.replaceKeys(b, made!, { keys: null, ...int8, keyFloor: null });
    } else if (floatKeys) {
      this.replaceKeys(b, made!, { keys: this.keysScratch!.slice(), keysInt8: null, keyScales: null, keyFloor: floor });
    }
    while (this.free.length > this.heldSpares) {
      const spare = this.free.pop()!;
      if (isArenaBlock(spare)) spare.free();
    }
    for (const spare of unquantized) if (this.free.includes(spare.block)) this.requantized(spare);
  }

  /**
   * A spare block given back the form {@link PagedKVCache.unquantized} took from it: its floor
   * scales, and its int8 keys (zeroed: a spare's numbers are written afresh when it is reused). In
   * an arena that cannot grow to hold them (4 GiB reached) it keeps its float keys: a spare either way.
   */
  private requantized({ block, int8, keyFloor }: { readonly block: KVBlock; readonly int8: boolean; readonly keyFloor: Float32Array | null }): void {
    block.keyFloor = keyFloor;
    if (!int8) return;
    const { blockSize, headDim, kvHeads } = this.layout;
    try {
      block.keysInt8 = new Int8Array(kvHeads * blockSize * headDim);
      block.keyScales = new Float32Array(kvHeads * headDim);
    } catch (e) {
      if (!(e instanceof ArenaFullError)) throw e;
      block.keysInt8 = null;
      return;
    }
    block.keys = null;
  }

  /**
   * Appends one token: k and v as `[g][c]` rows (kvHeads·headDim numbers), q as queryWidth numbers.
   * @throws AttentionError as {@link PagedKVCache.assertStorable}, changing nothing.
   */
  append(k: FloatArray, v: FloatArray, q: FloatArray | null): void {
    const { blockSize, headDim, kvHeads, queryWidth } = this.layout;
    const p = this.len;
    this.assertStorable(k, v, p);
    const b = Math.floor(p / blockSize);
    const slot = p - b * blockSize;
    const block = this.writable(b);
    // A float32 block in the kernels' memory takes the rows in one kernel call.
    const arena = this.layout.arena;
    const stored =
      arena !== undefined &&
      arena !== null &&
      block.keysByteOffset >= 0 &&
      block.keyScalesByteOffset === 0 &&
      block.values !== null &&
      k instanceof Float32Array &&
      v instanceof Float32Array &&
      arena.storeRows(k, v, block.keysByteOffset, block.valuesByteOffset, kvHeads, headDim, blockSize, slot);
    if (!stored) {
      const keys = block.keys!;
      for (let g = 0; g < kvHeads; g++) {
        const dst = (g * blockSize + slot) * headDim;
        const src = g * headDim;
        // set() rounds a float64 row into float32 storage exactly as element-wise stores do, and
        // copies rows of one type in bulk.
        keys.set(k.subarray(src, src + headDim), dst);
        if (block.values !== null) {
          writeValueRow(block.values, g * blockSize * headDim, blockSize, headDim, slot, v, src);
        } else {
          quantizeRowInt8(block.valuesInt8!, dst, block.valueScales!, g * blockSize + slot, v, src, headDim);
        }
      }
    }
    if (this.layout.int8 && slot === blockSize - 1) this.quantizeKeys(b, block);
    if (q !== null && block.queries !== null) {
      block.queries.set(q, slot * queryWidth);
    }
    this.len = p + 1;
  }

  /**
   * Releases every block whose positions all lie in `[keepHead, before)`: tokens no query can attend
   * any more, with the first `keepHead` (the sinks) kept. Returns the released positions, or null
   * when nothing was released.
   */
  releaseBetween(keepHead: number, before: number): { from: number; to: number; blocks: number } | null {
    const { blockSize } = this.layout;
    let first = -1;
    let last = -1;
    let blocks = 0;
    const end = Math.floor(Math.min(before, this.len) / blockSize);
    const start = Math.max(Math.ceil(keepHead / blockSize), this.releasedBelow);
    if (end - start <= this.table.size) {
      for (let b = start; b < end; b++) {
        const block = this.table.get(b);
        if (!block) continue;
        this.release(block);
        this.table.delete(b);
        this.exact.delete(b);
        if (first < 0) first = b;
        last = b;
        blocks++;
      }
    } else {
      // A range wider than the blocks held (a restored long stream's first release): walk the table instead.
      for (const [b, block] of this.table) {
        if (b < start || b >= end) continue;
        this.release(block);
        this.table.delete(b);
        this.exact.delete(b);
        first = first < 0 ? b : Math.min(first, b);
        last = Math.max(last, b);
        blocks++;
      }
    }
    this.releasedBelow = Math.max(this.releasedBelow, end);
    if (first < 0) return null;
    return { from: first * blockSize, to: (last + 1) * blockSize, blocks };
  }

  /**
   * Drops every position ≥ n. The block holding n stays, shared or not, and is copied on its next
   * write; or at once, with its float keys back, when the cache kept those.
   */
  truncate(n: number): void {
    const { blockSize } = this.layout;
    const keep = Math.ceil(n / blockSize);
    for (const [b, block] of this.table) {
      if (b >= keep) {
        this.release(block);
        this.table.delete(b);
      }
    }
    for (const b of this.exact.keys()) if (b >= keep) this.exact.delete(b);
    this.len = n;
    this.releasedBelow = Math.min(this.releasedBelow, Math.floor(n / blockSize));
    // The block's float keys at once, not at its next write: a query read before it (a flush) sees
    // the keys a fresh engine's filling block holds.
    if (this.exact.has(keep - 1) && n % blockSize !== 0) this.writable(keep - 1);
  }

  /** An independent cache sharing every block; O(blocks). */
  fork(): PagedKVCache {
    for (const block of this.table.values()) block.refs++;
    const twin = new PagedKVCache(this.layout, new Map(this.table), this.len, this.releasedBelow, new Map(this.exact));
    twin.outsideAt = this.outsideAt;
    return twin;
  }

  /** Releases everything, keeping freed blocks for reuse. */
  clear(): void {
    this.truncate(0);
  }

  /** Releases everything, including the free list. */
  dispose(): void {
    this.truncate(0);
    for (const block of this.free) if (isArenaBlock(block)) block.free();
    this.free = [];
  }

  stats(): CacheStats {
    const { blockSize } = this.layout;
    let blocks = 0;
    let sharedBlocks = 0;
    let retained = 0;
    let bytes = 0;
    for (const block of this.free) bytes += bytesOf(block);
    for (const keys of this.exact.values()) bytes += keys.byteLength;
    for (const [b, block] of this.table) {
      blocks++;
      bytes += bytesOf(block);
      if (block.refs > 1) sharedBlocks++;
      retained += Math.min(blockSize, this.len - b * blockSize);
    }
    const allocated = blocks + this.free.length;
    return {
      tokens: this.len,
      retained,
      blocks,
      blockSize,
      capacity: allocated * blockSize,
      bytes,
      sharedBlocks,
    };
  }

  private writable(b: number): KVBlock {
    const block = this.table.get(b);
    if (!block) {
      const fresh = this.allocate();
      // A block made for a position past its first slot (a truncate into a block a window had
      // released) holds no tokens before it: zeros, not a reused spare's rows, which an int8
      // block's scales and a snapshot would otherwise take in.
      if (this.len % this.layout.blockSize !== 0) {
        for (const rows of [fresh.keys, fresh.values, fresh.valuesInt8, fresh.valueScales, fresh.queries]) rows?.fill(0);
      }
      this.table.set(b, fresh);
      return fresh;
    }
    if (block.refs > 1) {
      const copy = this.copyOf(block);
      // In a held call the shared block stays counted until the commit (takeBack restores it).
      if (this.heldFrom >= 0) this.heldShared = block;
      else block.refs--;
      this.table.set(b, copy);
      return this.withFloatKeys(b, copy);
    }
    if (this.heldFrom >= 0 && block.keys === null) {
      // Written again after a truncate into it: its int8 keys, which dequantizing loses, for takeBack.
      this.heldInt8 = { keysInt8: block.keysInt8!.slice(), keyScales: block.keyScales!.slice() };
    }
    return this.withFloatKeys(b, block);
  }

  /** A copy of `block` for this cache to write: in the arena while it has room, else plain arrays. */
  private copyOf(block: KVBlock): KVBlock {
    const copy = this.arenaCopy(block);
    if (copy !== null) return copy;
    const arena = this.blockArena;
    if (arena === null) return plainCopy(block);
    this.markOutside();
    if (this.layout.int8) return plainCopy(block);
    return ArenaBlock.outside(arena, block.keys!.length, block.queries === null ? null : Float32Array.from(block.queries), Float32Array.from(block.keys!), Float32Array.from(block.values!));
  }

  /**
   * Moves blocks made outside the arena (while it was full) into it, if regions came free since
   * the last try: a step over any block outside it runs on the TypeScript kernels. Between calls,
   * never inside one ({@link PagedKVCache.takeBack} relies on the blocks the call found).
   */
  settle(): void {
    if (this.outsideAt >= 0 && this.outsideAt !== this.blockArena!.releases) this.moveIntoArena();
  }

  /**
   * Moves the blocks held outside the arena (made while it was full) into it, while it has room: a
   * float32 block in place, so that every fork holding it reads it there; a plain int8 block as a
   * copy, once no fork shares it (a copy would end the sharing). Counts and bytes stay as they were.
   */
  private moveIntoArena(): void {
    let left = false;
    for (const [b, block] of this.table) {
      if (block.keysByteOffset >= 0) continue;
      if (block instanceof ArenaBlock) {
        if (block.moveIn()) continue;
        this.markOutside();
        return;
      }
      if (block.refs > 1) {
        left = true;
        continue;
      }
      const copy = this.arenaCopy(block);
      if (copy === null) {
        this.markOutside();
        return;
      }
      this.table.set(b, copy);
    }
    this.outsideAt = -1;
    if (left) this.markOutside();
  }

  /** Notes that this cache holds a block outside its arena (when it has one). */
  private markOutside(): void {
    if (this.blockArena !== null) this.outsideAt = this.blockArena.releases;
  }

  /** A copy of `block` in the arena, or null when it is full (or the cache does not live there). */
  private arenaCopy(block: KVBlock): ArenaBlock | ArenaInt8Block | null {
    const copy = this.arenaBlock(false);
    if (copy === null) return null;
    try {
      if (copy instanceof ArenaBlock) {
        copy.keys.set(block.keys!);
        copy.values.set(block.values!);
      } else {
        // Copied out first: an assignment may grow the memory, which detaches the source's views.
        const [keys, keysInt8, keyScales, valuesInt8, valueScales] = [block.keys, block.keysInt8, block.keyScales, block.valuesInt8, block.valueScales].map((a) => a?.slice() ?? null);
        copy.keys = keys as FloatArray | null;
        copy.keysInt8 = keysInt8 as Int8Array | null;
        copy.keyScales = keyScales as Float32Array | null;
        copy.valuesInt8 = valuesInt8 as Int8Array | null;
        copy.valueScales = valueScales as Float32Array | null;
        copy.keyFloor = block.keyFloor?.slice() ?? null;
      }
    } catch (e) {
      // The quantized keys did not fit (4 GiB reached).
      if (!(e instanceof ArenaFullError)) throw e;
      copy.free();
      return null;
    }
    copy.queries?.set(block.queries!);
    return copy;
  }

  /**
   * A block written again after truncate made it partial gets its keys back in float: int8 keys are
   * per channel over the whole block, so a partial block cannot stay quantized. The float keys it
   * was made from, where the cache kept them ({@link KVCacheLayout.exactReach}); else dequantized,
   * with their scales as its floor, for the kept keys to quantize back to the same integers.
   */
  private withFloatKeys(b: number, block: KVBlock): KVBlock {
    if (block.keys !== null) return block;
    const exact = this.exact.get(b);
    if (exact !== undefined) {
      this.exact.delete(b);
      // A copy: forks may hold the same array, and a plain block writes into the one it is given.
      return this.replaceKeys(b, block, { keys: exact.slice(), keysInt8: null, keyScales: null, keyFloor: null });
    }
    const { blockSize, headDim, kvHeads, Float } = this.layout;
    const keys = new Float(kvHeads * blockSize * headDim);
    for (let g = 0; g < kvHeads; g++) {
      for (let r = 0; r < blockSize; r++) {
        const row = (g * blockSize + r) * headDim;
        for (let c = 0; c < headDim; c++) keys[row + c] = block.keysInt8![row + c]! * block.keyScales![g * headDim + c]!;
      }
    }
    return this.replaceKeys(b, block, { keys, keysInt8: null, keyScales: null, keyFloor: block.keyScales!.slice() });
  }

  /**
   * Gives block `b` its keys in the other form: float `keys`, or int8 `keysInt8` with their
   * `keyScales` (the form given up is dropped first, so that its memory can hold the other).
   * Returns the block, or its plain-array replacement when it lives in an arena that cannot grow
   * to hold them (4 GiB reached).
   */
  private replaceKeys(b: number, block: KVBlock, form: Pick<KVBlock, 'keys' | 'keysInt8' | 'keyScales' | 'keyFloor'>): KVBlock {
    if (form.keys === null) block.keys = null;
    else {
      block.keysInt8 = null;
      block.keyScales = null;
    }
    try {
      if (form.keys !== null) block.keys = form.keys;
      else {
        block.keysInt8 = form.keysInt8;
        block.keyScales = form.keyScales;
      }
    } catch (e) {
      if (!(e instanceof ArenaFullError) || !isArenaBlock(block)) throw e;
      const plain = { ...plainCopy(block), ...form };
      block.free();
      this.table.set(b, plain);
      this.markOutside();
      return plain;
    }
    block.keyFloor = form.keyFloor;
    return block;
  }

  /**
   * Quantizes block `b`'s keys per channel, now that it is full, and drops the float copy; keeps
   * that copy for {@link PagedKVCache.takeBack} when the call being held began inside the block, and
   * for truncates within {@link KVCacheLayout.exactReach} when the block has no floor (its float keys
   * are then the ones it was filled with, not dequantized ones).
   */
  private quantizeKeys(b: number, block: KVBlock): void {
    const { blockSize, headDim, kvHeads } = this.layout;
    const from = this.heldFrom;
    if (from >= 0 && from % blockSize !== 0 && Math.floor(from / blockSize) === b && this.heldInt8 === null && this.heldShared === null) {
      this.keysScratch ??= new this.layout.Float(kvHeads * blockSize * headDim);
      this.keysScratch.set(block.keys!);
      this.heldFloatKeys = true;
      this.heldFloor = block.keyFloor;
    }
    const keysInt8 = new Int8Array(kvHeads * blockSize * headDim);
    const keyScales = new Float32Array(kvHeads * headDim);
    for (let g = 0; g < kvHeads; g++) {
      quantizeColumnsInt8(keysInt8, keyScales, g * headDim, block.keys!, g * blockSize * headDim, blockSize, headDim, block.keyFloor);
    }
    try {
      block.keysInt8 = keysInt8;
      block.keyScales = keyScales;
    } catch (e) {
      // An arena block's memory could not grow (4 GiB reached): it keeps its float keys, which
      // every reader of the cache (kernels, snapshots, forks) takes as a block still filling.
      if (!(e instanceof ArenaFullError)) throw e;
      block.keysInt8 = null;
      block.keyScales = null;
      return;
    }
    if ((this.layout.exactReach ?? 0) > 0 && block.keyFloor === null) this.exact.set(b, block.keys!.slice());
    block.keys = null;
    block.keyFloor = null;
    // Within a prompt too: a long one would otherwise hold every block's float keys until it returns.
    this.forgetUnreachable(this.heldFrom < 0 ? 0 : Math.floor(this.heldFrom / this.layout.blockSize));
  }

  private allocate(): KVBlock {
    const { blockSize, headDim, kvHeads, queryWidth, Float, int8 } = this.layout;
    const arena = this.blockArena;
    const reused = this.free.pop();
    // A spare outside the arena (made while it was full) serves only while the arena has no room.
    const spareOutside = reused !== undefined && arena !== null && reused.keysByteOffset < 0;
    if (reused !== undefined && !spareOutside && this.unquantized(reused)) {
      reused.refs = 1;
      return reused;
    }
    const size = kvHeads * blockSize * headDim;
    const inArena = this.arenaBlock();
    if (inArena !== null) return inArena;
    if (spareOutside && this.unquantized(reused)) {
      reused.refs = 1;
      this.markOutside();
      return reused;
    }
    this.markOutside();
    if (arena !== null && !int8) {
      return ArenaBlock.outside(arena, size, queryWidth > 0 ? new Float32Array(blockSize * queryWidth) : null);
    }
    return {
      keys: new Float(size),
      values: int8 ? null : new Float(size),
      keysInt8: null,
      keyScales: null,
      keyFloor: null,
      valuesInt8: int8 ? new Int8Array(size) : null,
      valueScales: int8 ? new Float32Array(kvHeads * blockSize) : null,
      queries: queryWidth > 0 ? new Float(blockSize * queryWidth) : null,
      refs: 1,
      keysByteOffset: -1,
      valuesByteOffset: -1,
      keyScalesByteOffset: 0,
      valueScalesByteOffset: 0,
    };
  }

  /**
   * Gives a spare block float keys again (zeroed) in place of quantized ones, and no floor: it
   * starts afresh. False, and the block given back, when it lives in an arena that cannot grow to
   * hold them (4 GiB reached).
   */
  private unquantized(block: KVBlock): boolean {
    const keyFloor = block.keyFloor;
    if (this.heldFrom >= 0 && (keyFloor !== null || block.keys === null)) this.heldUnquantized.push({ block, int8: block.keys === null, keyFloor });
    if (this.layout.int8) block.keyFloor = null;
    if (block.keys !== null) return true;
    const { blockSize, headDim, kvHeads, Float } = this.layout;
    block.keysInt8 = null;
    block.keyScales = null;
    try {
      block.keys = new Float(kvHeads * blockSize * headDim);
    } catch (e) {
      if (!(e instanceof ArenaFullError) || !isArenaBlock(block)) throw e;
      block.free();
      return false;
    }
    return true;
  }

  /**
   * A fresh block in the arena, or null without one (or when it is full, or the cache is not
   * float32); `zeroed` false for a copy about to be written whole.
   */
  private arenaBlock(zeroed = true): ArenaBlock | ArenaInt8Block | null {
    const { blockSize, headDim, kvHeads, queryWidth, int8 } = this.layout;
    const arena = this.blockArena;
    if (arena === null) return null;
    const queries = queryWidth > 0 ? new Float32Array(blockSize * queryWidth) : null;
    if (int8) return ArenaInt8Block.allocate(arena, kvHeads, blockSize, headDim, queries);
    return ArenaBlock.allocate(arena, kvHeads * blockSize * headDim, queries, zeroed);
  }

  private release(block: KVBlock): void {
    block.refs--;
    // A window releases one block as it fills the next, so two spare blocks cover reuse; more would
    // only pin memory after a large truncate.
    if (block.refs !== 0) return;
    if (this.free.length < MAX_FREE_BLOCKS) this.free.push(block);
    else if (isArenaBlock(block)) block.free();
  }
}

/** Throws NON_FINITE when `row` holds an entry an int8 cache cannot scale ({@link beyondInt8Range}). */
function assertInt8Range(row: FloatArray, field: 'key' | 'value', token: number): void {
  const i = beyondInt8Range(row);
  if (i < 0) return;
  throw new AttentionError(
    'NON_FINITE',
    `${field} at token ${token}: element ${i} is ${row[i]}, beyond ±4.3e40, past which an int8 cache's float32 scale (max / 127) is infinite`,
    { field, token, element: i, actual: String(row[i]) },
  );
}

/** A copy of `block` in plain arrays. */
function plainCopy(block: KVBlock): KVBlock {
  return {
    keys: block.keys === null ? null : block.keys.slice(),
    values: block.values === null ? null : block.values.slice(),
    keysInt8: block.keysInt8 === null ? null : block.keysInt8.slice(),
    keyScales: block.keyScales === null ? null : block.keyScales.slice(),
    keyFloor: block.keyFloor === null ? null : block.keyFloor.slice(),
    valuesInt8: block.valuesInt8 === null ? null : block.valuesInt8.slice(),
    valueScales: block.valueScales === null ? null : block.valueScales.slice(),
    queries: block.queries === null ? null : block.queries.slice(),
    refs: 1,
    keysByteOffset: -1,
    valuesByteOffset: -1,
    keyScalesByteOffset: 0,
    valueScalesByteOffset: 0,
  };
}

/** Whether `block` lives in the kernels' arena, whose memory it must give back. */
function isArenaBlock(block: KVBlock): block is ArenaBlock | ArenaInt8Block {
  return block instanceof ArenaBlock || block instanceof ArenaInt8Block;
}

function bytesOf(block: KVBlock): number {
  let bytes = 0;
  for (const a of [block.keys, block.values, block.keysInt8, block.keyScales, block.keyFloor, block.valuesInt8, block.valueScales, block.queries]) {
    if (a !== null) bytes += a.byteLength;
  }
  return bytes;
}
