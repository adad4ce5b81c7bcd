import type { AttentionMap } from './attention-row.js';
import { escapeXml } from './escape-xml.js';
import { svgHeatmap } from './svg-heatmap.js';
import { selfWeight, topAttended } from './top-attended.js';

/** One heatmap of an {@link htmlReport}, with its heading and the paragraphs that explain it. */
export interface ReportSection {
  readonly title: string;
  /** Paragraphs of plain text (escaped, not HTML). */
  readonly paragraphs?: readonly string[];
  readonly map: AttentionMap;
  /** How many attended words the table lists per word. Default 3. */
  readonly topCount?: number;
}

/**
 * A self-contained HTML page (no scripts, no external files): a title, an introduction, and for
 * each section its text, its heatmap as one SVG (a panel per head) and a table of every word's top
 * attended words.
 *
 * @example
 * ```ts
 * writeFileSync('out/attention.html', htmlReport('The dog ran', [{ title: 'seed mode', map }]));
 * ```
 */
export function htmlReport(title: string, sections: readonly ReportSection[], introduction: readonly string[] = []): string {
  const body = sections.map((section) => {
    const topCount = section.topCount ?? 3;
    const rows = section.map.rows
      .map((row) => {
        const top = topAttended(row, section.map.words, topCount)
          // <bdi>: a right-to-left word (or one holding bidi controls) does not reorder the list.
          .map((t) => `<bdi>${escapeXml(t.word)}</bdi> <span class="w">${t.weight.toFixed(3)}</span>`)
          .join(', ');
        return `<tr><td>${row.index}</td><td><bdi>${escapeXml(row.word)}</bdi></td><td>${selfWeight(row).toFixed(3)}</td><td>${top}</td></tr>`;
      })
      .join('\n');
    const heads = section.map.rows[0]?.weights.length ?? 1;
    return [
      `<section>`,
      `<h2>${escapeXml(section.title)}</h2>`,
      ...(section.paragraphs ?? []).map((p) => `<p>${escapeXml(p)}</p>`),
      `<div class="map">${svgHeatmap(section.map)}</div>`,
      `<table><thead><tr><th>#</th><th>word</th><th>self</th><th>top attended${heads > 1 ? ` (mean of ${heads} heads)` : ''}</th></tr></thead>`,
      `<tbody>${rows}</tbody></table>`,
      `</section>`,
    ].join('\n');
  });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<style>
body { font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2.5rem; }
.map { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin-top: .5rem; }
td, th { border-bottom: 1px solid #ddd; padding: 2px 10px; text-align: left; }
.w { color: #777; }
</style>
</head>
<body>
<h1>${escapeXml(title)}</h1>
${introduction.map((p) => `<p>${escapeXml(p)}</p>`).join('\n')}
${body.join('\n')}
</body>
</html>
`;
}
