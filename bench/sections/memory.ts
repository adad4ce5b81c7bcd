import { SEED_KEY, SEED_VALUE, tokenRows } from '../data.js';
import { engineOptions } from '../impls/attnstream-implementation.js';
import { restoredEngine } from '../impls/restored-engine.js';
import type { Profile } from '../profile.js';
import type { Progress } from '../progress.js';

export interface MemoryRow {
  readonly heads: number;
  readonly headDim: number;
  readonly precision: 'float32' | 'float64';
  readonly tokens: number;
  /** The least any cache can hold per token: a key and a value, 2·H·D numbers. */
  readonly minimum: number;
  /** stats().bytes / tokens: blocks allocated, per token. */
  readonly reported: number;
}

/** Memory per cached token for each (H, D) of the grid, in both precisions. */
export function runMemory(profile: Profile, progress: Progress): MemoryRow[] {
  const shapes = new Map<string, { heads: number; headDim: number }>();
  for (const c of profile.cells) shapes.set(`${c.heads}x${c.headDim}`, { heads: c.heads, headDim: c.headDim });
  const tokens = profile.memoryTokens;
  const rows: MemoryRow[] = [];
  progress.plan(shapes.size * 2);
  for (const { heads, headDim } of shapes.values()) {
    const width = heads * headDim;
    const keys = tokenRows(SEED_KEY, tokens, width);
    const values = tokenRows(SEED_VALUE, tokens, width);
    for (const precision of ['float32', 'float64'] as const) {
      progress.tick(`memory H=${heads} D=${headDim} ${precision}`);
      const engine = restoredEngine({ ...engineOptions(heads, headDim), precision }, keys, values, tokens);
      const bytes = precision === 'float32' ? 4 : 8;
      rows.push({
        heads,
        headDim,
        precision,
        tokens,
        minimum: 2 * width * bytes,
        reported: engine.stats().bytes / tokens,
      });
      engine.dispose();
    }
  }
  return rows;
}
