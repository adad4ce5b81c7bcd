import { CliError, EXIT } from './cli-error.js';

/**
 * Cells of an SVG or HTML heatmap (words² per head) past which the file is refused: each cell is a
 * `<rect>` of 100–200 bytes, so this is a file of up to ~200 MB. Past it the report, built as one
 * string, ran out of memory (3,600 words: a native crash after 73 s).
 */
export const MAX_PICTURE_CELLS = 1_000_000;
/** Numbers of a JSON report (a position and a weight per head for each attended word of each row) past which it is refused: a string of ~300 MB. */
export const MAX_JSON_NUMBERS = 30_000_000;

/**
 * What a heatmap file of `format` would hold so far, refused (exit 1, saying how to make it
 * smaller) once past what one string can take: `words` attended so far (each a row and a column)
 * and `attended` positions over all rows, `heads` weights each.
 */
export function checkReportSize(format: 'html' | 'svg' | 'json', words: number, attended: number, heads: number): void {
  if (format === 'json') {
    const numbers = attended * (1 + heads);
    if (numbers <= MAX_JSON_NUMBERS) return;
    throw new CliError(EXIT.failure, `the JSON heatmap of ${words} words would hold ${numbers} numbers, past the ${MAX_JSON_NUMBERS} one file takes: give fewer words, or a --window (rows of at most that many positions)`);
  }
  const cells = words * words * heads;
  if (cells <= MAX_PICTURE_CELLS) return;
  throw new CliError(EXIT.failure, `the ${format.toUpperCase()} heatmap of ${words} words would have ${cells} cells (words² per head), past the ${MAX_PICTURE_CELLS} one file takes: give at most ${Math.floor(Math.sqrt(MAX_PICTURE_CELLS / heads))} words, or write JSON (with --window its rows stay short)`);
}
