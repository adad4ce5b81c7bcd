import { defer, map, tap } from 'rxjs';
import type { OperatorFunction } from 'rxjs';
import type { AttentionOptions } from '../index.js';
import { attend, embed } from '../rx/index.js';
import type { EmbeddingTable } from '../rx/index.js';
import { attentionRow } from './attention-row.js';
import type { AttentionRow } from './attention-row.js';
import { RecentWords } from './recent-words.js';

/**
 * Words in, heatmap rows out: each word is looked up in `table` (`embed`), attended over the words
 * so far (`attend`, with weights), and paired with its word. One engine per subscription, as with
 * `attend`; with `lookahead: L` a row comes out when the word L places later arrives. It holds
 * only the words whose rows have not come out yet (at most L + 1), so an endless stream with a
 * `window` runs in bounded memory.
 *
 * @throws AttentionError at once for bad options; the stream errors with UNKNOWN_TOKEN (naming the
 *   word's position) for a word the table lacks and has no fallback for.
 * @example
 * ```ts
 * from(tokenize('The dog ran')).pipe(streamAttention(table, { dim: 100, scale: 0.1 })).subscribe(drawRow);
 * ```
 */
export function streamAttention(table: EmbeddingTable, options: AttentionOptions): OperatorFunction<string, AttentionRow> {
  const attention = attend({ ...options, withWeights: true });
  return (words$) =>
    defer(() => {
      // A window of 1: a row needs its own word only; the words it attended are the caller's to keep.
      const words = new RecentWords({ window: 1 });
      return words$.pipe(
        tap((word) => words.push(word)),
        embed(table),
        attention,
        map((step) => {
          words.advance(step.index);
          return attentionRow(step, words);
        }),
      );
    });
}
