// Leading and trailing runs of Unicode punctuation (P) and symbols (S): "(well," → "well".
const EDGE_PUNCTUATION = /^[\p{P}\p{S}]+|[\p{P}\p{S}]+$/gu;

/**
 * Splits text into words the simple, predictable way: on whitespace, then strips punctuation and
 * symbols from both ends of each piece. It is meant for feeding an {@link EmbeddingTable}, not for
 * linguistics.
 *
 * The rules, in order:
 * 1. Split on runs of Unicode whitespace.
 * 2. Remove every leading and trailing punctuation or symbol character (Unicode categories P and S),
 *    so `"park."`, `"(park"` and `"«park»"` all become `"park"`.
 * 3. Keep punctuation inside a word: `"don't"`, `"well-known"` and `"3.14"` stay whole.
 * 4. Drop pieces that were only punctuation (`"—"`, `"..."`).
 * 5. Case is kept as written; an {@link EmbeddingTable} built with `lowercase: true` folds it.
 *
 * @example
 * ```ts
 * import { tokenize } from 'attnstream/rx';
 * tokenize('The dog ran — around "the park."'); // ['The', 'dog', 'ran', 'around', 'the', 'park']
 * ```
 */
export function tokenize(text: string): string[] {
  const words: string[] = [];
  for (const piece of text.split(/\s+/u)) {
    const word = piece.replace(EDGE_PUNCTUATION, '');
    if (word.length > 0) words.push(word);
  }
  return words;
}
