// Words come from the user's input, so a terminal must not act on them, nor be misled by them:
// a control character (C0, DEL, C1; ESC starts colour and cursor sequences), a format character
// (bidi controls such as U+202E reverse the rest of the line; U+200B, U+FEFF take no column) or
// U+FFFE/U+FFFF is shown as the escape JSON writes for it, as the messages on stderr show words.
// Kept raw: ZWNJ and ZWJ, which shape scripts and join emoji, and the tag characters of an emoji
// flag sequence (🏴 + tags is the flag of Scotland); variation selectors are marks, not format.
const UNSAFE = /(\p{Extended_Pictographic}[\u{E0020}-\u{E007F}]+)|(?![\u200C\u200D])[\p{Cc}\p{Cf}\uFFFE\uFFFF]/gu;

/**
 * `text` with its control and format characters written out as `\u001b`-style escapes, safe to
 * print: nothing a terminal acts on, nothing that reorders or hides columns.
 *
 * @example
 * ```ts
 * visibleText('dog\x1b[31m'); // 'dog\\u001b[31m'
 * visibleText('ab\u202Ecd');  // 'ab\\u202ecd'
 * ```
 */
export function visibleText(text: string): string {
  return text.replace(UNSAFE, (c: string, emoji: string | undefined) => emoji ?? escaped(c));
}

/**
 * `value` as indented JSON with DEL, the C1 controls and format characters escaped too
 * (JSON.stringify escapes only U+0000–U+001F): the same JSON to any parser, and nothing a terminal
 * acts on when written to one.
 *
 * @example
 * ```ts
 * terminalJson({ word: 'dog\u009b2J' }); // '{\n  "word": "dog\\u009b2J"\n}'
 * ```
 */
export function terminalJson(value: unknown): string {
  // The only raw control JSON.stringify leaves outside strings is its own line breaks.
  return JSON.stringify(value, null, 2).replace(UNSAFE, (c: string, emoji: string | undefined) => emoji ?? (c === '\n' ? c : escaped(c)));
}

/** A character as the escapes JSON writes for it (two for a character past U+FFFF). */
function escaped(c: string): string {
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

/** The most columns of the user's text a message quotes. */
export const QUOTED_COLUMNS = 200;

/**
 * `text` in double quotes as JSON writes it, with every control and format character escaped (JSON
 * itself leaves DEL and the C1 controls raw, and U+009B starts a terminal sequence as ESC [ does):
 * how messages on stderr show what the user typed. Past {@link QUOTED_COLUMNS} columns it is cut
 * (ending in `…`): a message stays a line, however long the word (a megabyte one was printed whole).
 *
 * @example
 * ```ts
 * quotedText('dog\u009b31m'); // '"dog\\u009b31m"'
 * ```
 */
export function quotedText(text: string): string {
  return visibleText(JSON.stringify(shortText(text, QUOTED_COLUMNS)));
}

const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
// A cluster of marks and format characters alone (a combining accent or a Hebrew point with no
// letter before it) takes no column.
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}]+$/u;
// Two columns: East Asian Wide and Fullwidth (their main ranges: JS regexes have no East Asian Width
// property) and emoji shown as emoji (by default, or asked for with VS16, U+FE0F).
const WIDE =
  /[\u1100-\u115F\u2E80-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{20000}-\u{3FFFD}]|\p{Emoji_Presentation}|\p{Emoji}\uFE0F/u;

/** Terminal columns of one grapheme cluster. */
function clusterWidth(cluster: string): number {
  if (ZERO_WIDTH.test(cluster)) return 0;
  return WIDE.test(cluster) ? 2 : 1;
}

/**
 * The terminal columns `text` takes, counted by grapheme cluster: 2 for a wide character (CJK,
 * emoji, a flag), 0 for marks and format characters alone, 1 otherwise. Terminals differ on some
 * emoji sequences (a family joined by ZWJ is 2 here, as in most current terminals).
 *
 * @example
 * ```ts
 * displayWidth('日本'); // 4
 * displayWidth('te\u0301'); // 2
 * ```
 */
export function displayWidth(text: string): number {
  let width = 0;
  for (const { segment } of GRAPHEMES.segment(text)) width += clusterWidth(segment);
  return width;
}

/**
 * `text` in exactly `width` terminal columns ({@link displayWidth}), cut between grapheme clusters
 * so an emoji, a flag or a letter with its accents is never split: padded with spaces, or cut,
 * ending in `…` when `ellipsis` is set (and a space, where a wide character did not fit).
 *
 * @example
 * ```ts
 * fitText('because', 4, true);  // 'bec…'
 * fitText('日本語', 3, false);   // '日 '
 * fitText('it', 4, false);      // 'it  '
 * ```
 */
export function fitText(text: string, width: number, ellipsis: boolean): string {
  const cut = cutText(text, width, ellipsis);
  return cut.text + ' '.repeat(width - cut.width);
}

/**
 * `text` cut to at most `width` terminal columns, ending in `…`, and not padded; a long word of the
 * top-words list, say.
 *
 * @example
 * ```ts
 * shortText('representatives', 8); // 'represe…'
 * shortText('dog', 8);             // 'dog'
 * ```
 */
export function shortText(text: string, width: number): string {
  return cutText(text, width, true).text;
}

function cutText(text: string, width: number, ellipsis: boolean): { text: string; width: number } {
  const room = ellipsis ? width - 1 : width;
  let used = 0;
  let kept = 0;
  let keptWidth = 0;
  // Stops at the first cluster past `width`: a megabyte word costs no more than a short one.
  for (const { segment, index } of GRAPHEMES.segment(text)) {
    used += clusterWidth(segment);
    if (used > width) return ellipsis ? { text: `${text.slice(0, kept)}…`, width: keptWidth + 1 } : { text: text.slice(0, kept), width: keptWidth };
    if (used <= room) {
      kept = index + segment.length;
      keptWidth = used;
    }
  }
  return { text, width: used };
}
