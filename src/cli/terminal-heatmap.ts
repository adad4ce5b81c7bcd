import type { AttentionRow } from './attention-row.js';
import type { WordsByPosition } from './recent-words.js';
import { formatWeight } from './format-weight.js';
import { heatRgb, inkCss } from './heat-color.js';
import { rowWeights } from './row-weights.js';
import type { HeadChoice } from './row-weights.js';
import { displayWidth, fitText, shortText, visibleText } from './terminal-text.js';
import { selfWeight, topAttended } from './top-attended.js';

/** How {@link terminalRows} draws. */
export interface TerminalHeatmapOptions {
  /** 24-bit ANSI colours with the weight printed in each cell; otherwise shade characters. Default false. */
  readonly color?: boolean;
  /** Width of the word column. Default 10. */
  readonly labelWidth?: number;
  /** Most cells per row; a longer row shows its last ones after a `…`. Default 24. */
  readonly maxColumns?: number;
  /** How many attended words to list after the cells. Default 3. */
  readonly topCount?: number;
  /**
   * Most terminal columns a line takes: the top words that do not fit are left out, then `self`;
   * never the label and the cells (choose `maxColumns` to fit). Default: no limit.
   */
  readonly width?: number;
  /** Characters for √weight in [0, .2), [.2, .4), … [.8, 1]. */
  readonly shades?: string;
  /**
   * Words in the whole text, when known: rows are padded with blank cells towards this many (as
   * many as `maxColumns` allows) so the text after the cells lines up. Padding never hides a row's
   * own cells: a row still shows the last `maxColumns` up to the furthest word it attended. Default:
   * each row ends at the furthest word it attended.
   */
  readonly length?: number;
}

const CELL = 4; // three characters and a space
/** The word column's width when the options give none. */
const LABEL_WIDTH = 10;
const SHADES = '·░▒▓█';

/**
 * A terminal heatmap of one word's attention: its label, one cell per position from 0 (or the last
 * `maxColumns`) to the furthest position it attended, and its top attended words. A multi-head
 * row gives one line per head, labelled `word h0`, `word h1`, …
 *
 * Cells are aligned by position, so rows printed one under another form the heatmap: cell j of
 * every row is word j. A position the row did not attend (beyond a window, or not yet seen) is
 * blank.
 *
 * @example
 * ```ts
 * for (const line of terminalRows(row, words, { color: process.stdout.isTTY })) console.log(line);
 * // it         ▒▒▒ ·   ·   ░░░ ▒▒▒ ·   ▒▒▒ ▓▓▓   self 0.35  because 0.15, the 0.14, The 0.14
 * ```
 */
export function terminalRows(row: AttentionRow, words: WordsByPosition, options: TerminalHeatmapOptions = {}): string[] {
  const heads: HeadChoice[] = row.weights.length === 1 ? [0] : row.weights.map((_, h) => h);
  const word = visibleText(row.word);
  const labelWidth = options.labelWidth ?? LABEL_WIDTH;
  return heads.map((head) => {
    // The head is what tells a word's lines apart: the word is cut, never its suffix.
    const suffix = row.weights.length === 1 ? '' : ` h${head}`;
    const label = fitText(`${shortText(word, labelWidth - suffix.length)}${suffix}`, labelWidth, true);
    return terminalLine(row, words, label, head, options);
  });
}

/**
 * The header for {@link terminalRows}: each column labelled with the first three terminal columns
 * of its word (a wide character takes two), so it lines up with the cells of rows drawn with the
 * same `labelWidth` and `maxColumns` and `length: words.length`. Words beyond `maxColumns` shift a
 * row's columns by its position, so the header then labels only the last row's (the last
 * `maxColumns` words, after a `…`).
 *
 * @example
 * ```ts
 * terminalHeader(['The', 'dog', 'ran']); // '           The dog ran'
 * ```
 */
export function terminalHeader(words: readonly string[], options: Pick<TerminalHeatmapOptions, 'labelWidth' | 'maxColumns'> = {}): string {
  const { first, elided } = columnRange(words.length - 1, options.maxColumns ?? 24);
  const cells = words.slice(first).map((w) => `${fitText(visibleText(w), CELL - 1, false)} `).join('');
  return `${' '.repeat((options.labelWidth ?? LABEL_WIDTH) + 1)}${elided ? '… ' : ''}${cells}`.trimEnd();
}

function terminalLine(row: AttentionRow, words: WordsByPosition, label: string, head: HeadChoice, options: TerminalHeatmapOptions): string {
  const color = options.color ?? false;
  const shades = options.shades ?? SHADES;
  const weights = rowWeights(row, head);
  const maxColumns = options.maxColumns ?? 24;
  const labelWidth = options.labelWidth ?? LABEL_WIDTH;
  const length = options.length ?? 0;
  const furthest = Math.max(row.index, row.positions.length > 0 ? row.positions[row.positions.length - 1]! : 0);
  const { first, elided } = columnRange(furthest, maxColumns);
  const last = Math.max(furthest, Math.min(length - 1, first + maxColumns - 1));
  const byPosition = new Map<number, number>();
  row.positions.forEach((p, n) => byPosition.set(p, weights[n]!));

  // Rows that need no `…` keep its place when others of the text do, so their cells line up too.
  let cells = elided ? '… ' : length > maxColumns ? '  ' : '';
  let used = labelWidth + 1 + cells.length + CELL * (last - first + 1);
  for (let p = first; p <= last; p++) {
    const w = byPosition.get(p);
    if (w === undefined) cells += ' '.repeat(CELL);
    else if (color) cells += `${ansiCell(w)} `;
    else cells += `${shades[Math.min(shades.length - 1, Math.floor(Math.sqrt(w) * shades.length))]!.repeat(CELL - 1)} `;
  }
  const top = topAttended(row, words, options.topCount ?? 3, head).map((t, n) => `${n === 0 ? '  ' : ', '}${shortText(visibleText(t.word), labelWidth)} ${t.weight.toFixed(2)}`);
  const width = options.width ?? Infinity;
  let line = `${label} ${cells}`;
  for (const part of [`  self ${selfWeight(row, head).toFixed(2)}`, ...top]) {
    used += displayWidth(part);
    if (used > width) break;
    line += part;
  }
  return line;
}

function ansiCell(weight: number): string {
  const [r, g, b] = heatRgb(weight);
  const ink = inkCss(weight) === '#000' ? '38;2;0;0;0' : '38;2;255;255;255';
  return `\x1b[48;2;${r};${g};${b}m\x1b[${ink}m${formatWeight(weight)}\x1b[0m`;
}

function columnRange(last: number, maxColumns: number): { first: number; elided: boolean } {
  const first = Math.max(0, last - Math.max(1, maxColumns) + 1);
  return { first, elided: first > 0 };
}
