import { map } from 'rxjs';
import type { OperatorFunction } from 'rxjs';
import { AttentionError } from '../errors.js';
import { EmbeddingTable } from './embedding-table.js';

/**
 * Turns a stream of tokens into their embedding vectors: each word (or row index) is looked up in
 * `table` as it arrives.
 *
 * 1. Each token becomes `table.lookup(token)`, a fresh Float32Array of `table.dim` numbers.
 * 2. A token the table refuses (unknown word without a fallback, row index out of range) errors the
 *    stream with the table's AttentionError, naming the token's 0-based position in this
 *    subscription, and unsubscribes from the source.
 * 3. Completion, errors and unsubscription pass straight through; nothing is buffered.
 *
 * @throws AttentionError INVALID_ARGUMENT at once when `table` is not an {@link EmbeddingTable}.
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { EmbeddingTable, embed, tokenize } from 'attnstream/rx';
 * const table = EmbeddingTable.fromArrays(['hello', 'world'], [[1, 0], [0, 1]], { lowercase: true });
 * from(tokenize('Hello, world!')).pipe(embed(table)).subscribe((x) => console.log(x)); // [1, 0] then [0, 1]
 * ```
 */
export function embed(table: EmbeddingTable): OperatorFunction<string | number, Float32Array> {
  if (!(table instanceof EmbeddingTable)) {
    throw new AttentionError('INVALID_ARGUMENT', 'embed: expected an EmbeddingTable', { field: 'table' });
  }
  return map((token, position) => table.lookup(token, position));
}
