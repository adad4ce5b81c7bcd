import type { ResolvedOptions } from './options.js';

/**
 * The keys query `i` attends, as two ascending half-open runs of positions: the sinks
 * `[0, sinkEnd)` and the window `[from, to)`. `last` is the newest key it may see (i, or i + L
 * with look-ahead, capped by the stream).
 */
export interface AttendedKeys {
  sinkEnd: number;
  from: number;
  to: number;
}

/** Fills `out` with the keys of query `i` under `o`'s window and sinks. */
export function attendedKeys(o: ResolvedOptions, i: number, last: number, out: AttendedKeys): AttendedKeys {
  const from = o.window === Infinity ? 0 : Math.max(0, i - o.window + 1);
  out.sinkEnd = Math.min(o.sinks, from);
  out.from = from;
  out.to = last + 1;
  return out;
}

/**
 * The position the sinks see query `i` at. Keys are cached rotated by their stream position, and
 * a query rotated by `i` meets each at its distance `p − i`. With RoPE 'cache' positions a key's
 * position is instead its rank among the attended keys (sinks 0…, then the window): the window's
 * keys keep their distances to the query (ranks and positions both count one a token), but once the
 * window has moved past the sinks, the sinks (ranks and positions 0…) are nearer: the query's rank
 * is `sinkEnd + (i − from)`. The sinks are then scored against the query rotated by that rank;
 * otherwise, and in 'absolute' mode, this is `i`.
 */
export function sinkRank(o: ResolvedOptions, i: number, keys: AttendedKeys): number {
  return o.invFreq !== null && o.ropePositions === 'cache' ? keys.sinkEnd + (i - keys.from) : i;
}

/** The smallest position any query from `i` on can still attend, sinks aside. */
export function oldestAttendable(o: ResolvedOptions, i: number): number {
  return o.window === Infinity ? 0 : Math.max(0, i - o.window + 1);
}
