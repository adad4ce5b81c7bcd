import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { batchAttention, createAttention } from '../../src/index.js';
import type { AttentionStep } from '../../src/index.js';
import { attentionRow } from '../../src/cli/attention-row.js';
import { escapeXml } from '../../src/cli/escape-xml.js';
import type { AttentionMap } from '../../src/cli/attention-row.js';
import { formatWeight } from '../../src/cli/format-weight.js';
import { heatCss, heatRgb, inkCss } from '../../src/cli/heat-color.js';
import { htmlReport } from '../../src/cli/html-report.js';
import { jsonReport } from '../../src/cli/json-report.js';
import { rowWeights, weightAt } from '../../src/cli/row-weights.js';
import { svgHeatmap } from '../../src/cli/svg-heatmap.js';
import { terminalHeader, terminalRows } from '../../src/cli/terminal-heatmap.js';
import { displayWidth, fitText, terminalJson, visibleText } from '../../src/cli/terminal-text.js';
import { selfWeight, topAttended } from '../../src/cli/top-attended.js';
import { sum } from '../support/close.js';
import { caseArbitrary } from '../support/engine-arbitraries.js';

/** With the `u` flag a pair is one code point, so this matches only half a pair. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const namesOf = (n: number): string[] => Array.from({ length: n }, (_, i) => `w${i}`);
const mapOf = (steps: AttentionStep[]): AttentionMap => {
  const words = namesOf(steps.length);
  return { words, rows: steps.map((s) => attentionRow(s, words)) };
};
/** Every (options, xs) the engine supports, as heatmap rows. */
const rowsArbitrary = caseArbitrary({ precision: 'float64', sinkLogits: false }, 12).map(({ options, xs }) => mapOf(batchAttention(xs, options)));

// The note's worked case: x3 = [1,1,1] scores 2 against x1 = [1,0,1], 2 against x2 = [0,2,0] and
// 3 against itself, so its weights are e²/(2e² + e³), e²/(2e² + e³), e³/(2e² + e³).
const NOTE = mapOf(batchAttention([[1, 0, 1], [0, 2, 0], [1, 1, 1]], { dim: 3, precision: 'float64', withWeights: true }));
const E2 = Math.exp(2) / (2 * Math.exp(2) + Math.exp(3));
const E3 = Math.exp(3) / (2 * Math.exp(2) + Math.exp(3));

describe('attentionRow', () => {
  it('pairs a step with its word, and refuses a step without weights or without a word', () => {
    const [step] = createAttention({ dim: 2, withWeights: true }).push([1, 0]);
    expect(attentionRow(step!, ['hello'])).toMatchObject({ index: 0, word: 'hello' });
    const [bare] = createAttention({ dim: 2 }).push([1, 0]);
    expect(() => attentionRow(bare!, ['hello'])).toThrow(/withWeights/);
    expect(() => attentionRow(step!, [])).toThrow(/no word/);
  });
});

describe('top attended words', () => {
  it("the note's x3: itself 0.576 apart, x1 and x2 tie at 0.212 and come in stream order", () => {
    const row = NOTE.rows[2]!;
    expect(selfWeight(row)).toBeCloseTo(E3, 12);
    expect(topAttended(row, NOTE.words, 5)).toEqual([
      { index: 0, word: 'w0', weight: expect.closeTo(E2, 12) },
      { index: 1, word: 'w1', weight: expect.closeTo(E2, 12) },
    ]);
    expect(topAttended(row, NOTE.words, 1).map((t) => t.index)).toEqual([0]);
    expect(topAttended(row, NOTE.words, 0)).toEqual([]);
    // Ten equal weights, a heavier one among them: it first, then the tied ones in stream order.
    const tied = { index: 10, word: 'w10', positions: Int32Array.from({ length: 11 }, (_, p) => p), weights: [Float64Array.from({ length: 11 }, (_, p) => (p === 7 ? 0.2 : 0.08))] };
    expect(topAttended(tied, { length: 11, at: (p: number) => `w${p}` }, 4).map((t) => t.index)).toEqual([7, 0, 1, 2]);
    // Past a few words it sorts (one pass keeping many in order is slower): the same order.
    const many = { index: 99, word: 'w99', positions: Int32Array.from({ length: 100 }, (_, p) => p), weights: [Float64Array.from({ length: 100 }, (_, p) => ((p * 37) % 10) / 450)] };
    const sorted = Array.from({ length: 99 }, (_, p) => p).sort((a, b) => many.weights[0]![b]! - many.weights[0]![a]! || a - b);
    expect(topAttended(many, { length: 100, at: (p: number) => `w${p}` }, 50).map((t) => t.index)).toEqual(sorted.slice(0, 50));
  });

  it('lists min(k, attended − 1) words, never the word itself, heaviest first, none left out heavier (every head and the mean)', () => {
    fc.assert(
      fc.property(rowsArbitrary, fc.integer({ min: 0, max: 6 }), (map, k) => {
        for (const row of map.rows) {
          for (const head of ['mean' as const, ...row.weights.keys()]) {
            const weights = rowWeights(row, head);
            const top = topAttended(row, map.words, k, head);
            const others = Array.from(row.positions).filter((p) => p !== row.index);
            expect(top.length).toBe(Math.min(k, others.length));
            expect(top.some((t) => t.index === row.index)).toBe(false);
            for (let n = 1; n < top.length; n++) expect(top[n]!.weight).toBeLessThanOrEqual(top[n - 1]!.weight);
            const lightest = top.at(-1)?.weight ?? Infinity;
            const shown = new Set(top.map((t) => t.index));
            for (const p of others) if (!shown.has(p)) expect(weightAt(row, weights, p)).toBeLessThanOrEqual(lightest);
            for (const t of top) expect(t.word).toBe(map.words[t.index]);
            // The whole order, against a sort of every other position: heaviest first, ties in stream order.
            const sorted = others.map((p) => ({ p, w: weightAt(row, weights, p) })).sort((a, b) => b.w - a.w || a.p - b.p);
            expect(top.map((t) => t.index)).toEqual(sorted.slice(0, k).map((o) => o.p));
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it('the mean over heads is the average of the heads and sums to 1', () => {
    fc.assert(
      fc.property(rowsArbitrary, (map) => {
        for (const row of map.rows) {
          const mean = rowWeights(row, 'mean');
          expect(sum(mean)).toBeCloseTo(1, 9);
          mean.forEach((m, n) => expect(m).toBeCloseTo(row.weights.reduce((s, w) => s + w[n]!, 0) / row.weights.length, 12));
        }
      }),
      { numRuns: 40 },
    );
  });

  it('weightAt is 0 for a position the row did not attend', () => {
    const steps = batchAttention([[1], [2], [3], [4]], { dim: 1, window: 2, withWeights: true, precision: 'float64' });
    const row = mapOf(steps).rows[3]!;
    expect(weightAt(row, rowWeights(row), 0)).toBe(0);
    expect(weightAt(row, rowWeights(row), 2) + weightAt(row, rowWeights(row), 3)).toBeCloseTo(1, 12);
    expect(() => rowWeights(row, 1)).toThrow(/head 1/);
  });
});

describe('heat colours', () => {
  it('run from white at 0 through the stops to dark red at 1, getting darker as the weight grows', () => {
    expect(heatRgb(0)).toEqual([255, 255, 255]);
    expect(heatRgb(0.25)).toEqual([254, 178, 76]); // √0.25 = 0.5: the middle stop
    expect(heatRgb(1)).toEqual([128, 0, 38]);
    expect(heatCss(1)).toBe('rgb(128, 0, 38)');
    expect(heatRgb(-1)).toEqual(heatRgb(0));
    expect(heatRgb(NaN)).toEqual(heatRgb(0));
    expect(heatRgb(2)).toEqual(heatRgb(1));
    const luminance = (w: number): number => {
      const [r, g, b] = heatRgb(w);
      return 0.299 * r + 0.587 * g + 0.114 * b;
    };
    for (let w = 0; w < 1; w += 0.01) expect(luminance(w + 0.01)).toBeLessThanOrEqual(luminance(w) + 1e-9);
    expect(inkCss(0)).toBe('#000');
    expect(inkCss(1)).toBe('#fff');
  });

  it("inkCss meets WCAG AA's 4.5:1 on every shade of the ramp (a browser audit: white on orange at 3.0:1)", () => {
    // WCAG 2's relative luminance and contrast ratio, as the guidelines define them.
    const channel = (c: number): number => (c / 255 <= 0.04045 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
    const relative = ([r, g, b]: readonly number[]): number => 0.2126 * channel(r!) + 0.7152 * channel(g!) + 0.0722 * channel(b!);
    const contrast = (a: number, b: number): number => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    for (let i = 0; i <= 1000; i++) {
      const w = i / 1000;
      const ink = inkCss(w) === '#000' ? 0 : 1;
      expect(contrast(relative(heatRgb(w)), ink), `weight ${w}`).toBeGreaterThanOrEqual(4.5);
    }
  });

  it('formatWeight gives three characters', () => {
    expect([0, 0.004, 0.03, 0.3512, 0.995, 1].map(formatWeight)).toEqual(['  0', '  0', '.03', '.35', '1.0', '1.0']);
  });
});

describe('terminal rows', () => {
  // Labels are 10 wide plus a space; each cell is 3 characters and a space.
  const column = (line: string, position: number): string => line.slice(11 + 4 * position, 11 + 4 * position + 3);

  it('put cell j of every row under the header label of word j, shaded by √weight, blank where not attended', () => {
    const steps = batchAttention([[2, 0], [0, 2], [2, 2], [1, -1]], { dim: 2, window: 2, withWeights: true, precision: 'float64' });
    const map = mapOf(steps);
    const header = terminalHeader(map.words);
    expect(map.words.map((_, j) => column(header, j).trim())).toEqual(['w0', 'w1', 'w2', 'w3']);
    for (const row of map.rows) {
      const [line] = terminalRows(row, map.words, { length: 4 });
      const weights = rowWeights(row);
      for (let j = 0; j < 4; j++) {
        const k = row.positions.indexOf(j);
        const cell = column(line!, j);
        if (k < 0) expect(cell).toBe('   ');
        else expect(cell).toBe('·░▒▓█'[Math.min(4, Math.floor(Math.sqrt(weights[k]!) * 5))]!.repeat(3));
      }
      expect(line!.startsWith(row.word.padEnd(10))).toBe(true);
    }
  });

  it('print the own weight and the top words with two decimals', () => {
    const [line] = terminalRows(NOTE.rows[2]!, NOTE.words, { topCount: 2 });
    expect(line).toContain(`self ${E3.toFixed(2)}`);
    expect(line).toContain(`w0 ${E2.toFixed(2)}, w1 ${E2.toFixed(2)}`);
  });

  it('give one line per head, and coloured cells with the weight printed when asked', () => {
    const steps = batchAttention([[1, 0, 0, 1], [0, 1, 1, 0]], { dim: 4, heads: 2, withWeights: true, precision: 'float64' });
    const map = mapOf(steps);
    const lines = terminalRows(map.rows[1]!, map.words, { color: true });
    expect(lines.map((l) => l.slice(0, 6))).toEqual(['w1 h0 ', 'w1 h1 ']);
    expect(lines[0]).toMatch(/\x1b\[48;2;\d+;\d+;\d+m/);
    expect(lines[0]).toContain(formatWeight(map.rows[1]!.weights[0]![1]!));
  });

  it('show only the last maxColumns cells of a long row, after an ellipsis', () => {
    const xs = Array.from({ length: 30 }, (_, i) => [Math.cos(i), Math.sin(i)]);
    const map = mapOf(batchAttention(xs, { dim: 2, withWeights: true }));
    const [line] = terminalRows(map.rows[29]!, map.words, { maxColumns: 5 });
    expect(line!.slice(11, 13)).toBe('… ');
    expect(line!.slice(13, 13 + 5 * 4).replace(/ /g, '').length).toBe(15);
    expect(terminalHeader(map.words, { maxColumns: 5 })).toBe(`${' '.repeat(11)}… w25 w26 w27 w28 w29`);
  });

  it('of a text longer than maxColumns show each row its own cells, and line up what follows them', () => {
    const xs = Array.from({ length: 30 }, (_, i) => [Math.cos(i), Math.sin(i)]);
    const map = mapOf(batchAttention(xs, { dim: 2, withWeights: true }));
    const lines = map.rows.map((row) => terminalRows(row, map.words, { maxColumns: 5, length: 30 })[0]!);
    lines.forEach((line, i) => {
      // The row's own cell is the last it shows: at column min(i, 4) after the two characters of `… ` or their place.
      const own = Math.min(i, 4);
      expect(line.slice(13 + 4 * own, 13 + 4 * own + 3)).toMatch(/^([·░▒▓█])\1\1$/);
      expect(line.slice(11, 13)).toBe(i >= 5 ? '… ' : '  ');
      expect(line.indexOf(' self ')).toBe(lines[0]!.indexOf(' self '));
    });
  });

  it('show control characters in words as \\u escapes, never raw', () => {
    const words = ['the', 'dog\x1b[31mred', 'bell\x07'];
    const map = mapOf(batchAttention([[1, 0], [0, 1], [1, 1]], { dim: 2, withWeights: true }));
    const named: AttentionMap = { words, rows: map.rows.map((row) => ({ ...row, word: words[row.index]! })) };
    const lines = [terminalHeader(words), ...named.rows.flatMap((row) => terminalRows(row, words, { labelWidth: 20, topCount: 2 }))];
    for (const line of lines) expect(line).not.toMatch(/\p{Cc}/u);
    const text = lines.join('\n');
    expect(text).toContain('dog\\u001b[31mred');
    expect(text).toContain('bell\\u0007');
  });

  it('cut and pad labels and column headers by terminal columns, never splitting a character: a wide one takes two', () => {
    const words = ['𝒜𝒝𝒞𝒟𝒠𝒡𝒢𝒣𝒥𝒦𝒩𝒪', '😀😀😀😀', 'dog'];
    const map = mapOf(batchAttention([[1, 0], [0, 1], [1, 1]], { dim: 2, withWeights: true }));
    const lines = map.rows.map((row) => terminalRows({ ...row, word: words[row.index]! }, words, { length: 3 })[0]!);
    const header = terminalHeader(words);
    for (const line of [header, ...lines]) expect(line).not.toMatch(LONE_SURROGATE);
    expect(header).toBe(`${' '.repeat(11)}𝒜𝒝𝒞 😀  dog`);
    expect(lines[0]!.startsWith('𝒜𝒝𝒞𝒟𝒠𝒡𝒢𝒣𝒥… ███')).toBe(true);
    expect(lines[1]!.startsWith('😀😀😀😀   ')).toBe(true);
  });

  it('cut at grapheme clusters: a flag, a ZWJ family, a letter with its accent stay whole (an audit: half a flag, a dangling ZWJ, a lost accent)', () => {
    expect(fitText('ab🇫🇷c', 3, false)).toBe('ab ');
    expect(fitText('ab🇫🇷c', 4, false)).toBe('ab🇫🇷');
    expect(fitText('abcdefghij🇫🇷x', 12, true)).toBe('abcdefghij… ');
    expect(fitText('abcdefghi👨‍👩‍👧x', 11, true)).toBe('abcdefghi… ');
    expect(fitText('abcdefghi👨‍👩‍👧x', 12, true)).toBe('abcdefghi👨‍👩‍👧x');
    expect(fitText('tte\u0301', 3, false)).toBe('tte\u0301');
    expect(terminalHeader(['tte\u0301', 'ab🇫🇷c'])).toBe(`${' '.repeat(11)}tte\u0301 ab`);
  });

  it('count terminal columns: 2 for wide characters and emoji, 0 for marks, so rows and the header line up (CJK, Hebrew and Arabic points)', () => {
    expect(['dog', '日本語', 'ｆｕｌｌ', '한국', '😀', '🇫🇷', '👨‍👩‍👧', '☺', '☺️', 'e\u0301', '\u0301', 'שָׁלוֹם', 'مَرْحَبًا'].map(displayWidth)).toEqual([3, 6, 8, 4, 2, 2, 2, 1, 2, 1, 0, 4, 5]);
    const words = ['the', 'שָׁלוֹם', 'مَرْحَبًا', '日本語', 'dog'];
    const map = mapOf(batchAttention([[1, 0], [0, 1], [1, 1], [1, 2], [2, 1]], { dim: 2, withWeights: true }));
    const lines = map.rows.map((row) => terminalRows({ ...row, word: words[row.index]! }, words, { length: 5 })[0]!);
    const header = terminalHeader(words);
    // The column each cell starts at, counted in terminal columns: the header's labels and every row's shades.
    const starts = (line: string, mark: RegExp): number[] => [...line.matchAll(mark)].map((m) => displayWidth(line.slice(0, m.index)));
    expect(starts(header, /\S+/g)).toEqual([11, 15, 19, 23, 27]);
    lines.forEach((line, i) => {
      expect(starts(line.slice(0, line.indexOf('  self')), /[·░▒▓█]{3}/g).at(-1)).toBe(11 + 4 * i);
      expect(displayWidth(line.slice(0, line.indexOf('  self')))).toBe(11 + 4 * 5);
    });
  });

  it('with several heads cut the word, never its h0/h1 suffix, so the lines stay apart', () => {
    const steps = batchAttention([[1, 0, 0, 1], [0, 1, 1, 0]], { dim: 4, heads: 2, withWeights: true, precision: 'float64' });
    const words = ['the', 'representatives'];
    const lines = terminalRows({ ...mapOf(steps).rows[1]!, word: words[1]! }, words, { labelWidth: 12 });
    expect(lines.map((l) => l.slice(0, 13))).toEqual(['represen… h0 ', 'represen… h1 ']);
  });

  it('keep every line within `width` columns: top words left out, then self, never the label and cells; a long word is cut', () => {
    const long = 'x'.repeat(1_000_000);
    const words = ['the', long, '日本語日本語日本語', 'dog'];
    const map = mapOf(batchAttention([[1, 0], [0, 1], [1, 1], [1, 2]], { dim: 2, withWeights: true }));
    const row = { ...map.rows[3]!, word: words[3]! };
    const full = terminalRows(row, words, { labelWidth: 12, topCount: 3 })[0]!;
    expect(full).toContain(`, ${'x'.repeat(11)}… 0.`);
    expect(full).toContain('  日本語日本… 0.');
    expect(displayWidth(full)).toBe(87);
    for (const width of [87, 80, 60, 40, 30, 10]) {
      const [line] = terminalRows(row, words, { labelWidth: 12, topCount: 3, width });
      expect(displayWidth(line!), `width ${width}`).toBeLessThanOrEqual(Math.max(width, 13 + 16));
      expect(full.startsWith(line!)).toBe(true);
    }
    expect(terminalRows(row, words, { labelWidth: 12, width: 40 })[0]).toMatch(/ {3}self \d\.\d\d$/);
    expect(terminalRows(row, words, { labelWidth: 12, width: 30 })[0]).toBe(full.slice(0, full.indexOf('  self')));
    const [label] = terminalRows({ ...map.rows[1]!, word: long }, words, { labelWidth: 12 });
    expect(label!.startsWith(`${'x'.repeat(11)}… `)).toBe(true);
    expect(label!.length).toBeLessThan(100);
  });

  it('escape bidi controls, zero-width and other format characters, U+FFFE and U+FFFF; keep ZWJ, ZWNJ, variation selectors and emoji tag sequences', () => {
    for (const c of ['\u202E', '\u202A', '\u2066', '\u2069', '\u200E', '\u200F', '\u061C', '\u200B', '\u2060', '\uFEFF', '\u00AD', '\uFFFE', '\uFFFF']) {
      expect(visibleText(`ab${c}cd`)).toBe(`ab\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}cd`);
    }
    expect(visibleText('x\u{E0041}y')).toBe('x\\udb40\\udc41y'); // a tag character alone
    for (const kept of ['👨‍👩‍👧', 'می‌خواهم', '☺️', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '1️⃣']) expect(visibleText(kept)).toBe(kept);
    const words = ['the', 'ab\u202Ecd', 'x\u200By'];
    const map = mapOf(batchAttention([[1, 0], [0, 1], [1, 1]], { dim: 2, withWeights: true }));
    const lines = [terminalHeader(words), ...map.rows.flatMap((row) => terminalRows({ ...row, word: words[row.index]! }, words, { labelWidth: 12 }))];
    for (const line of lines) expect(line).not.toMatch(/\p{Cf}/u);
    expect(lines.at(-1)).toContain('ab\\u202ecd 0.');
    expect(terminalJson({ word: 'ab\u202Ecd\uFEFF' })).toBe('{\n  "word": "ab\\u202ecd\\ufeff"\n}');
    expect(JSON.parse(terminalJson({ word: 'ab\u202Ecd 👨‍👩‍👧' }))).toEqual({ word: 'ab\u202Ecd 👨‍👩‍👧' });
  });
});

describe('SVG and HTML heatmaps', () => {
  // 29 = the default 30 px cell less its 1 px gap; the legend's rects have other sizes.
  const cells = (svg: string): RegExpMatchArray[] => [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="29" height="29" fill="([^"]+)"/g)];

  it('draw n × n cells per head, grey exactly where a row did not attend, with each weight in a tooltip', () => {
    fc.assert(
      fc.property(rowsArbitrary, (map) => {
        const svg = svgHeatmap(map);
        const heads = map.rows[0]!.weights.length;
        const n = map.words.length;
        const all = cells(svg);
        expect(all.length).toBe(heads * n * n);
        const attended = map.rows.reduce((s, r) => s + r.positions.length, 0);
        expect(all.filter((m) => m[1] === '#eeeeee').length).toBe(heads * (n * n - attended));
        expect([...svg.matchAll(/<title>/g)].length).toBe(heads * attended);
        expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
        expect(svg.endsWith('</svg>')).toBe(true);
      }),
      { numRuns: 25 },
    );
  });

  it('escape words, so any text makes well-formed markup', () => {
    const words = ['<b>', 'a&b', '"q"'];
    const steps = batchAttention([[1], [2], [3]], { dim: 1, withWeights: true });
    const map: AttentionMap = { words, rows: steps.map((s) => attentionRow(s, words)) };
    for (const text of [svgHeatmap(map, { title: '<t>' }), htmlReport('<t>', [{ title: '&', map }], ['"x"'])]) {
      expect(text).not.toContain('<b>');
      expect(text).not.toContain('a&b');
      expect(text).toContain('&lt;b&gt;');
      expect(text).toContain('a&amp;b');
    }
  });

  it('replace characters XML cannot hold (C0 controls but tab, newline and CR; lone surrogates; U+FFFE, U+FFFF) with U+FFFD', () => {
    const words = ['dog\x01x', 'lone\uD835', '\uDC9Cback', 'no\uFFFE\uFFFF', '𝒜ok'];
    const steps = batchAttention(words.map((_, i) => [i + 1]), { dim: 1, withWeights: true });
    const map: AttentionMap = { words, rows: steps.map((s) => attentionRow(s, words)) };
    for (const text of [svgHeatmap(map, { title: 'a\x1bb' }), htmlReport('t\x00', [{ title: 'x\x0By', map }])]) {
      expect(text).not.toMatch(/[\0-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/);
      expect(text).not.toMatch(LONE_SURROGATE);
      for (const shown of ['dog\uFFFDx', 'lone\uFFFD', '\uFFFDback', 'no\uFFFD\uFFFD', '𝒜ok']) expect(text).toContain(shown);
    }
    expect(escapeXml('tab\there\nnl\rcr')).toBe('tab\there\nnl\rcr');
  });

  it("isolate each word's direction: <bdi> in the page's table, FSI…PDI in tooltips, so a right-to-left word does not reorder its neighbours", () => {
    const words = ['the', 'שלום', 'ab\u202Ecd'];
    const steps = batchAttention([[1], [2], [3]], { dim: 1, withWeights: true });
    const map: AttentionMap = { words, rows: steps.map((s) => attentionRow(s, words)) };
    expect(svgHeatmap(map)).toContain('<title>\u2068ab\u202Ecd\u2069 → \u2068שלום\u2069: ');
    expect(svgHeatmap(map)).toContain('<title>the → the: '); // plain ASCII needs nothing
    const html = htmlReport('t', [{ title: 's', map }]);
    expect(html).toContain('<td><bdi>שלום</bdi></td>');
    expect(html).toContain('<bdi>שלום</bdi> <span class="w">');
    expect(html).not.toMatch(/<td>(?!<bdi>)[^<\d]/);
  });

  it('an HTML report is self-contained: no scripts, no external files, an SVG and a table row per word per section', () => {
    const html = htmlReport('title', [
      { title: 'one', map: NOTE },
      { title: 'two', map: NOTE, paragraphs: ['p'] },
    ]);
    expect(html).not.toMatch(/<script|src=|href=|@import|url\(/i);
    expect([...html.matchAll(/<svg /g)].length).toBe(2);
    expect([...html.matchAll(/<tr><td>/g)].length).toBe(2 * NOTE.words.length);
  });

  it('JSON holds the positions and every head’s weights as plain numbers', () => {
    const report = jsonReport(NOTE, { dim: 3 });
    const back = JSON.parse(JSON.stringify(report)) as typeof report;
    expect(back.words).toEqual(['w0', 'w1', 'w2']);
    expect(back.rows[2]!.positions).toEqual([0, 1, 2]);
    expect(back.rows[2]!.weights[0]![2]).toBeCloseTo(E3, 12);
    expect(back.options).toEqual({ dim: 3 });
  });
});

describe('topAttended: mutation audit', () => {
  it('past a few words (the sorting way) never lists the word itself either, however heavy', () => {
    const row = { index: 40, word: 'w40', positions: Int32Array.from({ length: 41 }, (_, p) => p), weights: [Float64Array.from({ length: 41 }, (_, p) => (p === 40 ? 0.5 : 0.0125))] };
    const top = topAttended(row, { length: 41, at: (p: number) => `w${p}` }, 40);
    expect(top.map((t) => t.index)).toEqual(Array.from({ length: 40 }, (_, p) => p));
  });
});
