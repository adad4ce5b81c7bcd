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
  const others: AttendedWord[] = [];
  row.positions.forEach((position, n) => {
    if (position !== row.index) others.push({ index: position, word: words.at(position) ?? `#${position}`, weight: weights[n]! });
  });
  others.sort((a, b) => b.weight - a.weight || a.index - b.index);
  return others.slice(0, Math.max(0, count));
}

/** The weight `row` gives its own word. */
export function selfWeight(row: AttentionRow, head: HeadChoice = 'mean'): number {
  const n = row.positions.indexOf(row.index);
  return n < 0 ? 0 : rowWeights(row, head)[n]!;
}
