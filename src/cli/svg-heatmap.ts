import type { AttentionMap } from './attention-row.js';
import { escapeXml } from './escape-xml.js';
import { formatWeight } from './format-weight.js';
import { heatCss, inkCss } from './heat-color.js';
import { rowWeights } from './row-weights.js';

/** How {@link svgHeatmap} draws. */
export interface SvgHeatmapOptions {
  /** A title above the grid. */
  readonly title?: string;
  /** Side of a cell in pixels. Default 30; weights are printed in cells of 22 px or more. */
  readonly cellSize?: number;
}

const CHAR = 7.2; // width of a 12 px sans-serif character, near enough for laying out labels
const MASKED = '#eeeeee';

/**
 * A self-contained SVG heatmap: one row per word (the word attending), one column per word (the
 * word attended), each cell shaded by the weight; cells a row did not attend (later words, or words
 * beyond a window) are grey. Multi-head maps get one panel per head, side by side.
 *
 * @example
 * ```ts
 * writeFileSync('attention.svg', svgHeatmap({ words, rows }, { title: 'The dog ran …' }));
 * ```
 */
export function svgHeatmap(map: AttentionMap, options: SvgHeatmapOptions = {}): string {
  const n = map.words.length;
  const cell = options.cellSize ?? 30;
  const headCount = map.rows[0]?.weights.length ?? 1;
  const panels = [...Array(headCount).keys()];
  const labelWidth = Math.ceil(Math.max(3, ...map.words.map((w) => w.length)) * CHAR) + 10;
  const titleHeight = options.title === undefined ? 0 : 26;
  const panelTitle = panels.length > 1 ? 18 : 0;
  const top = titleHeight + panelTitle + labelWidth * 0.75 + 6;
  const panelWidth = labelWidth + n * cell + 24;
  const legendHeight = 40;
  const width = Math.ceil(Math.max(320, panels.length * panelWidth, (options.title?.length ?? 0) * CHAR * 1.25 + 8));
  const height = Math.ceil(top + n * cell + legendHeight);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12" role="img">`,
  );
  out.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  if (options.title !== undefined) out.push(`<text x="4" y="18" font-size="15" font-weight="600">${escapeXml(options.title)}</text>`);
  panels.forEach((head, p) => {
    const x0 = p * panelWidth + labelWidth;
    const weights = map.rows.map((row) => rowWeights(row, head));
    if (panelTitle > 0) {
      out.push(`<text x="${x0}" y="${titleHeight + 14}" font-weight="600">head ${head}</text>`);
    }
    map.words.forEach((word, j) => {
      const x = x0 + j * cell + cell / 2;
      out.push(`<text transform="translate(${x + 4} ${top - 6}) rotate(-50)">${escapeXml(word)}</text>`);
    });
    map.rows.forEach((row, r) => {
      const y = top + r * cell;
      out.push(`<text x="${x0 - 6}" y="${y + cell / 2 + 4}" text-anchor="end">${escapeXml(row.word)}</text>`);
      for (let j = 0; j < n; j++) {
        const k = row.positions.indexOf(j);
        const x = x0 + j * cell;
        if (k < 0) {
          out.push(`<rect x="${x}" y="${y}" width="${cell - 1}" height="${cell - 1}" fill="${MASKED}"/>`);
          continue;
        }
        const w = weights[r]![k]!;
        out.push(
          `<rect x="${x}" y="${y}" width="${cell - 1}" height="${cell - 1}" fill="${heatCss(w)}"><title>${escapeXml(`${isolated(row.word)} → ${isolated(map.words[j]!)}: ${w.toFixed(3)}`)}</title></rect>`,
        );
        if (cell >= 22) out.push(`<text x="${x + cell / 2 - 0.5}" y="${y + cell / 2 + 4}" text-anchor="middle" font-size="10" fill="${inkCss(w)}">${formatWeight(w).trim()}</text>`);
      }
    });
  });
  out.push(legend(labelWidth, top + n * cell + 12));
  out.push('</svg>');
  return out.join('\n');
}

/**
 * A word between FSI and PDI, for a tooltip (plain text, no markup): a right-to-left word, or one
 * holding bidi controls, cannot reorder the arrow and the weight around it. Printable ASCII holds
 * neither, so it is left as it is.
 */
function isolated(word: string): string {
  return /^[\x20-\x7e]*$/.test(word) ? word : `\u2068${word}\u2069`;
}

function legend(x: number, y: number): string {
  const stops = [0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1];
  const parts = stops.map((w, i) => `<rect x="${x + i * 26}" y="${y}" width="26" height="10" fill="${heatCss(w)}" stroke="#ccc" stroke-width="0.5"/>`);
  const ticks = stops.map((w, i) => `<text x="${x + i * 26 + 13}" y="${y + 22}" text-anchor="middle" font-size="9">${w}</text>`);
  const masked = `<rect x="${x + stops.length * 26 + 14}" y="${y}" width="10" height="10" fill="${MASKED}"/><text x="${x + stops.length * 26 + 28}" y="${y + 9}" font-size="9">not attended</text>`;
  return [...parts, ...ticks, masked].join('\n');
}
