import type { AttentionRow } from './attention-row.js';
import type { WordsByPosition } from './recent-words.js';
import { rowWeights } from './row-weights.js';
import type { HeadChoice } from './row-weights.js';

/** A word another word attended, and how much. */
export interface AttendedWord {
  readonly index: number;
  readonly word: string;
  readonly weight: number;
}

/**
 * The `count` words `row` attends most, its own position left out (every word attends itself
 * strongly in seed mode; read it with {@link selfWeight}). Heaviest first; equal weights in
 * stream order.
 *
 * @example
 * ```ts
 * topAttended(row, words, 3); // [{ index: 6, word: 'because', weight: 0.15 }, …]
 * ```
 */
export function topAttended(row: AttentionRow, words: WordsByPosition, count: number, head: HeadChoice = 'mean'): AttendedWord[] {
  const weights = rowWeights(row, head);
  const keep = Math.max(0, count);
  const { positions } = row;
  const word = (n: number): AttendedWord => ({ index: positions[n]!, word: words.at(positions[n]!) ?? `#${positions[n]}`, weight: weights[n]! });
  if (keep > FEW) {
    const others = Array.from(positions.keys()).filter((n) => positions[n] !== row.index);
    others.sort((a, b) => weights[b]! - weights[a]! || positions[a]! - positions[b]!);
    return others.slice(0, keep).map(word);
  }
  // The best `keep` so far, heaviest first: one pass, not a sort of every position (a row of a long
  // stream attends thousands; the page draws one per word).
  const best: number[] = [];
  for (let n = 0; n < positions.length; n++) {
    if (positions[n] === row.index) continue;
    const weight = weights[n]!;
    // Positions ascend, so an equal weight met later ranks after: strictly heavier to move up.
    let at = best.length;
    while (at > 0 && weight > weights[best[at - 1]!]!) at--;
    if (at < keep) {
      best.splice(at, 0, n);
      if (best.length > keep) best.pop();
    }
  }
  return best.map(word);
}

/** Up to this many words, one pass keeping them in order beats sorting every position; past it, a sort wins (`--top 1000`). */
const FEW = 32;

/** The weight `row` gives its own word. */
export function selfWeight(row: AttentionRow, head: HeadChoice = 'mean'): number {
  const n = row.positions.indexOf(row.index);
  return n < 0 ? 0 : rowWeights(row, head)[n]!;
}
