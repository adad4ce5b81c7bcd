import { createAttention } from '../../src/index.js';
import type { AttentionOptions } from '../../src/index.js';
import { SEED_KEY, SEED_VALUE, streamInputs, tokenRows } from '../data.js';
import { engineOptions } from '../impls/attnstream-implementation.js';
import { restoredEngine } from '../impls/restored-engine.js';
import type { Profile } from '../profile.js';
import type { Progress } from '../progress.js';

/** Two full 64-token blocks: what an int8 cache is filled with (by pushing, so kept small). */
const INT8_TOKENS = 128;

export interface MemoryRow {
  readonly heads: number;
  readonly headDim: number;
  /** How keys and values are stored (the engine's cacheDtype). */
  readonly storage: 'float32' | 'float64' | 'int8';
  readonly tokens: number;
  /** The least such a cache can hold per token: a key and a value, 2·H·D numbers (int8: without scales). */
  readonly minimum: number;
  /** stats().bytes / tokens: blocks allocated, per token. */
  readonly reported: number;
}

/**
 * Memory per cached token for each (H, D) of the grid: float32 and float64 caches restored at the
 * profile's length, and an int8 cache (cacheDtype 'int8', when the engine has it) filled by
 * pushQKV with two full blocks.
 */
export function runMemory(profile: Profile, progress: Progress): MemoryRow[] {
  const shapes = new Map<string, { heads: number; headDim: number }>();
  for (const c of profile.cells) shapes.set(`${c.heads}x${c.headDim}`, { heads: c.heads, headDim: c.headDim });
  const tokens = profile.memoryTokens;
  const rows: MemoryRow[] = [];
  progress.plan(shapes.size * 3);
  for (const { heads, headDim } of shapes.values()) {
    const width = heads * headDim;
    const keys = tokenRows(SEED_KEY, tokens, width);
    const values = tokenRows(SEED_VALUE, tokens, width);
    for (const precision of ['float32', 'float64'] as const) {
      progress.tick(`memory H=${heads} D=${headDim} ${precision}`);
      const engine = restoredEngine({ ...engineOptions(heads, headDim), precision }, keys, values, tokens);
      rows.push({ heads, headDim, storage: precision, tokens, minimum: 2 * width * (precision === 'float32' ? 4 : 8), reported: engine.stats().bytes / tokens });
      engine.dispose();
    }
    progress.tick(`memory H=${heads} D=${headDim} int8`);
    const int8 = int8Engine(engineOptions(heads, headDim));
    if (int8 === null) continue;
    const inputs = streamInputs(INT8_TOKENS, width);
    for (let t = 0; t < INT8_TOKENS; t++) int8.pushQKV(inputs.row(inputs.queries, t), inputs.row(inputs.keys, t), inputs.row(inputs.values, t));
    rows.push({ heads, headDim, storage: 'int8', tokens: INT8_TOKENS, minimum: 2 * width, reported: int8.stats().bytes / INT8_TOKENS });
    int8.dispose();
  }
  return rows;
}

/** An engine with an int8 cache, or null when this engine build has no such option. */
function int8Engine(options: AttentionOptions): ReturnType<typeof createAttention> | null {
  try {
    return createAttention({ ...options, cacheDtype: 'int8' } as AttentionOptions);
  } catch {
    return null;
  }
}
