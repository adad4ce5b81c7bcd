import type { CellResult } from '../sections/grid.js';

const COLORS: Record<string, string> = {
  attnstream: '#d62728',
  'attnstream-2t': '#bcbd22',
  'attnstream-js': '#ff7f0e',
  'plain-js': '#ff9896',
  'c-1t': '#1f77b4',
  'c-2t': '#aec7e8',
  numpy: '#2ca02c',
  'ort-matmul': '#9467bd',
  'ort-attention': '#c5b0d5',
  'tfjs-cpu': '#8c564b',
  'tfjs-wasm': '#e377c2',
  floor: '#7f7f7f',
};

/**
 * µs per decode step against n, log-log, one panel per (H, D) and one line per implementation,
 * with the memory-bandwidth floor dashed. Plain SVG: no fonts or scripts beyond what a browser has.
 */
export function stepPlot(results: readonly CellResult[], ids: readonly string[], gbPerSecond: number | null): string {
  const shapes: { heads: number; headDim: number }[] = [];
  for (const r of results) {
    if (!shapes.some((s) => s.heads === r.cell.heads && s.headDim === r.cell.headDim)) shapes.push({ heads: r.cell.heads, headDim: r.cell.headDim });
  }
  shapes.sort((a, b) => a.heads - b.heads || a.headDim - b.headDim);
  const headDims = [...new Set(shapes.map((s) => s.headDim))].sort((a, b) => a - b);
  const headsList = [...new Set(shapes.map((s) => s.heads))].sort((a, b) => a - b);
  const panelW = 360;
  const panelH = 240;
  const margin = { left: 64, right: 16, top: 28, bottom: 40 };
  const width = Math.max(760, headDims.length * (panelW + margin.left + margin.right));
  const perRow = Math.floor((width - 16) / 150);
  const legendH = 46 + 18 * Math.ceil((ids.length + 1) / perRow);
  const height = legendH + headsList.length * (panelH + margin.top + margin.bottom);

  const ns = results.map((r) => r.cell.n);
  const ys: number[] = [];
  for (const r of results) for (const row of r.rows) if (row.micros) ys.push(row.micros.median);
  const floors = gbPerSecond === null ? [] : results.map((r) => floorMicros(r.cacheBytes, gbPerSecond));
  ys.push(...floors);
  const xMin = Math.min(...ns) / 1.5;
  const xMax = Math.max(...ns) * 1.5;
  const yMin = 10 ** Math.floor(Math.log10(Math.max(1e-3, Math.min(...ys))));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...ys)));
  const sx = (n: number) => margin.left + ((Math.log(n) - Math.log(xMin)) / (Math.log(xMax) - Math.log(xMin))) * panelW;
  const sy = (y: number) => margin.top + panelH - ((Math.log(y) - Math.log(yMin)) / (Math.log(yMax) - Math.log(yMin))) * panelH;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="8" y="16" font-size="13" font-weight="bold">µs per decode step against cache length n (log-log)</text>`);
  out.push(`<text x="8" y="32">floor (dashed): reading K and V once at the measured memory bandwidth</text>`);
  [...ids, 'floor'].forEach((id, i) => {
    const x = 8 + (i % perRow) * 150;
    const y = 52 + Math.floor(i / perRow) * 18;
    out.push(`<line x1="${x}" y1="${y - 4}" x2="${x + 20}" y2="${y - 4}" stroke="${COLORS[id] ?? '#000'}" stroke-width="2"${id === 'floor' ? ' stroke-dasharray="4 3"' : ''}/>`);
    out.push(`<text x="${x + 26}" y="${y}">${id}</text>`);
  });
  for (const shape of shapes) {
    const ox = headDims.indexOf(shape.headDim) * (panelW + margin.left + margin.right);
    const oy = legendH + headsList.indexOf(shape.heads) * (panelH + margin.top + margin.bottom);
    const cells = results.filter((r) => r.cell.heads === shape.heads && r.cell.headDim === shape.headDim).sort((a, b) => a.cell.n - b.cell.n);
    out.push(`<g transform="translate(${ox},${oy})">`);
    out.push(`<text x="${margin.left}" y="${margin.top - 8}" font-weight="bold">H = ${shape.heads}, D = ${shape.headDim}</text>`);
    out.push(`<rect x="${margin.left}" y="${margin.top}" width="${panelW}" height="${panelH}" fill="none" stroke="#ccc"/>`);
    for (let e = Math.log10(yMin); e <= Math.log10(yMax); e++) {
      const y = sy(10 ** e);
      out.push(`<line x1="${margin.left}" y1="${y}" x2="${margin.left + panelW}" y2="${y}" stroke="#eee"/>`);
      out.push(`<text x="${margin.left - 6}" y="${y + 4}" text-anchor="end">${tickLabel(10 ** e)}</text>`);
    }
    for (const n of [...new Set(ns)].sort((a, b) => a - b)) {
      out.push(`<line x1="${sx(n)}" y1="${margin.top}" x2="${sx(n)}" y2="${margin.top + panelH}" stroke="#eee"/>`);
      out.push(`<text x="${sx(n)}" y="${margin.top + panelH + 14}" text-anchor="middle">${n.toLocaleString('en-US')}</text>`);
    }
    out.push(`<text x="${margin.left + panelW / 2}" y="${margin.top + panelH + 30}" text-anchor="middle">n (cached tokens)</text>`);
    out.push(`<text transform="translate(14,${margin.top + panelH / 2}) rotate(-90)" text-anchor="middle">µs per step</text>`);
    const line = (points: [number, number][], id: string, dashed: boolean) => {
      if (points.length === 0) return;
      const d = points.map(([n, y], i) => `${i === 0 ? 'M' : 'L'}${sx(n).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
      const weight = id === 'attnstream' ? 3 : 1.5;
      out.push(`<path d="${d}" fill="none" stroke="${COLORS[id] ?? '#000'}" stroke-width="${weight}"${dashed ? ' stroke-dasharray="4 3"' : ''}><title>${id}</title></path>`);
      for (const [n, y] of points) out.push(`<circle cx="${sx(n).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${COLORS[id] ?? '#000'}"/>`);
    };
    if (gbPerSecond !== null) line(cells.map((c) => [c.cell.n, floorMicros(c.cacheBytes, gbPerSecond)]), 'floor', true);
    for (const id of ids) {
      const points: [number, number][] = [];
      for (const c of cells) {
        const row = c.rows.find((r) => r.id === id);
        if (row?.micros) points.push([c.cell.n, row.micros.median]);
      }
      line(points, id, false);
    }
    out.push('</g>');
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/**
 * The bandwidth the floor is read at: the C probe's, or null without it. The JavaScript probe is
 * a scalar loop V8 does not vectorise, slower than the memory (11.5 against 28.8 GB/s here), so a
 * floor from it would be a lenient one.
 */
export function floorBandwidth(bandwidth: { readonly native: number | null } | undefined): number | null {
  return bandwidth?.native ?? null;
}

/** µs to read `bytes` once at `gbPerSecond`. */
export function floorMicros(bytes: number, gbPerSecond: number): number {
  return (bytes / (gbPerSecond * 1e9)) * 1e6;
}

function tickLabel(micros: number): string {
  if (micros >= 1e6) return `${micros / 1e6} s`;
  if (micros >= 1e3) return `${micros / 1e3} ms`;
  return `${micros} µs`;
}
