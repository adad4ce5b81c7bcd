// Words come from the user's input, so a terminal must not act on them: a control character
// (C0, DEL, C1; ESC starts colour and cursor sequences) is shown as the escape JSON writes for it,
// as the messages on stderr show words.
const CONTROL = /\p{Cc}/gu;

/**
 * `text` with its control characters written out as `\u001b`-style escapes, safe to print.
 *
 * @example
 * ```ts
 * visibleText('dog\x1b[31m'); // 'dog\\u001b[31m'
 * ```
 */
export function visibleText(text: string): string {
  return text.replace(CONTROL, escaped);
}

/**
 * `value` as indented JSON with DEL and the C1 controls escaped too (JSON.stringify escapes only
 * U+0000–U+001F): the same JSON to any parser, and nothing a terminal acts on when written to one.
 *
 * @example
 * ```ts
 * terminalJson({ word: 'dog\u009b2J' }); // '{\n  "word": "dog\\u009b2J"\n}'
 * ```
 */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f]/g, escaped);
}

/** A control character as the escape JSON writes for it. */
function escaped(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * `text` in double quotes as JSON writes it, with every control character escaped (JSON itself
 * leaves DEL and the C1 controls raw, and U+009B starts a terminal sequence as ESC [ does): how
 * messages on stderr show what the user typed.
 *
 * @example
 * ```ts
 * quotedText('dog\u009b31m'); // '"dog\\u009b31m"'
 * ```
 */
export function quotedText(text: string): string {
  return visibleText(JSON.stringify(text));
}

/**
 * `text` in exactly `width` characters, counted in code points so an emoji or 𝒜 is never split:
 * padded with spaces, or cut, ending in `…` when `ellipsis` is set. A wide character (CJK, most
 * emoji) still takes two terminal columns, and a combining mark none.
 *
 * @example
 * ```ts
 * fitText('because', 4, true);  // 'bec…'
 * fitText('𝒜𝒝𝒞𝒟', 3, false);   // '𝒜𝒝𝒞'
 * fitText('it', 4, false);      // 'it  '
 * ```
 */
export function fitText(text: string, width: number, ellipsis: boolean): string {
  const chars = [...text];
  if (chars.length <= width) return text + ' '.repeat(width - chars.length);
  return ellipsis ? `${chars.slice(0, width - 1).join('')}…` : chars.slice(0, width).join('');
}
