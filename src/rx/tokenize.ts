import { AttentionError, describeValue } from '../errors.js';

// What is stripped from the ends of a piece. Punctuation (P) and symbols (S, emoji included), and
// the invisible characters that only shape them: format characters (Cf: the zero-width joiner of
// "👨‍👩‍👧", the tags of "🏴󠁧󠁢󠁳󠁣󠁴󠁿"), variation selectors (the U+FE0F of "❤️") and enclosing marks (the
// keycap U+20E3 of "1️⃣").
const ORNAMENT = /^[\p{P}\p{S}\p{Cf}\p{Me}\p{Variation_Selector}]$/u;
// A combining mark belongs to the character before it: stripped with an ornament, kept on a letter.
const MARK = /^\p{M}$/u;
const WORD_CHARACTER = /[\p{L}\p{N}]/u;
// Where pieces end: runs of whitespace, and of what typography sets between words without spaces,
// the dashes longer than a hyphen (‒ – — ― ⸺ ⸻) and the ellipsis (…): "stop—the" is two words.
// White_Space, not \s: \s misses U+0085 (NEL) and takes U+FEFF (a format character, not a space).
const BETWEEN_WORDS = /[\p{White_Space}\u2012-\u2015\u2026\u2E3A\u2E3B]+/u;

/**
 * Splits text into words the simple, predictable way: on whitespace, then strips punctuation,
 * symbols and emoji from both ends of each piece. It is meant for feeding an
 * {@link EmbeddingTable}, not for linguistics.
 *
 * The rules, in order:
 * 1. Split on runs of Unicode whitespace, and of the dashes longer than a hyphen (‒ – — ― ⸺ ⸻) and
 *    the ellipsis (…), which typography sets between words without spaces: `"stop—the"` and
 *    `"wait…what"` are two words each.
 * 2. Remove every leading and trailing punctuation or symbol character (Unicode categories P and S,
 *    emoji included), so `"park."`, `"(park"` and `"«park»"` all become `"park"`. The invisible
 *    characters an emoji is built with go with it: format characters (Cf, such as the zero-width
 *    joiner), variation selectors, enclosing marks, and combining marks that sit on a removed
 *    character or on nothing (at the start). So `"love❤️"` becomes `"love"` and the keycap `"1️⃣"`
 *    its digit, `"1"`.
 * 3. Keep other punctuation inside a word: `"don't"`, `"well-known"` and `"3.14"` stay whole, and a
 *    combining mark on a letter stays (`"café"` written with U+0301 keeps its accent).
 * 4. Drop pieces left with no letter or number: `"—"`, `"..."`, and emoji such as `"👍🏽"`,
 *    `"🇫🇷"` or `"👨‍👩‍👧"`.
 * 5. Case is kept as written; an {@link EmbeddingTable} built with `lowercase: true` folds it.
 *
 * @example
 * ```ts
 * import { tokenize } from 'attnstream/rx';
 * tokenize('The dog ran — around "the park."'); // ['The', 'dog', 'ran', 'around', 'the', 'park']
 * tokenize('I ❤️ NY 🇺🇸, press 1️⃣'); // ['I', 'NY', 'press', '1']
 * ```
 *
 * @throws AttentionError INVALID_ARGUMENT for anything but a string.
 */
export function tokenize(text: string): string[] {
  if (typeof text !== 'string') throw new AttentionError('INVALID_ARGUMENT', `tokenize: expected a string, got ${describeValue(text)}`, { field: 'text' });
  const words: string[] = [];
  for (const piece of text.split(BETWEEN_WORDS)) {
    const word = trimmed(piece);
    if (WORD_CHARACTER.test(word)) words.push(word);
  }
  return words;
}

/**
 * `piece` from its first code point that is not an ornament or mark to its trailing ornaments
 * (rule 2). It steps over the string's code points in place: an array of them took 16–30 bytes a
 * character, and a 64 MB word without spaces 2 GB of heap.
 */
function trimmed(piece: string): string {
  let start = 0;
  while (start < piece.length) {
    const char = codePointAt(piece, start);
    if (!ORNAMENT.test(char) && !MARK.test(char)) break;
    start += char.length;
  }
  // Backwards over ornaments and marks; the cut goes before the earliest ornament of that run, so
  // marks are removed only with an ornament they follow.
  let end = piece.length;
  for (let i = piece.length; i > start; ) {
    const char = codePointBefore(piece, i, start);
    i -= char.length;
    if (ORNAMENT.test(char)) end = i;
    else if (!MARK.test(char)) break;
  }
  return piece.slice(start, end);
}

/** The code point starting at UTF-16 index `i`, as a string (a lone surrogate stands alone). */
function codePointAt(text: string, i: number): string {
  return String.fromCodePoint(text.codePointAt(i)!);
}

/** The code point ending just before index `i`, not reaching before `start`. */
function codePointBefore(text: string, i: number, start: number): string {
  const low = text.charCodeAt(i - 1);
  const high = i - 2 >= start ? text.charCodeAt(i - 2) : 0;
  const pair = low >= 0xdc00 && low <= 0xdfff && high >= 0xd800 && high <= 0xdbff;
  return text.slice(pair ? i - 2 : i - 1, i);
}
