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

/** The smallest position any query from `i` on can still attend, sinks aside. */
export function oldestAttendable(o: ResolvedOptions, i: number): number {
  return o.window === Infinity ? 0 : Math.max(0, i - o.window + 1);
}
