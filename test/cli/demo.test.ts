import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { batchAttention } from '../../src/index.js';
import { tokenize } from '../../src/rx/index.js';
import { demoArguments, runDemo, SENTENCES } from '../../src/cli/demo.js';
import { EXIT } from '../../src/cli/cli-error.js';
import { loadEmbeddingTable } from '../../src/cli/load-embedding-table.js';

const temp = mkdtempSync(join(tmpdir(), 'attnstream-demo-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

describe('npm start (src/cli/demo.ts)', () => {
  it('is what package.json runs', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe('tsx src/cli/demo.ts');
  });

  it('streams both sentences, then a window and a 4-head run, with a row per word (per head), and writes the HTML file', async () => {
    const lines: string[] = [];
    const table = loadEmbeddingTable();
    const { htmlPath, maps } = await runDemo({ write: (l) => lines.push(l), outDir: temp, table });
    const rowWords = lines.filter((l) => / self \d\.\d\d/.test(l)).map((l) => l.split(/\s+/)[0]);
    const [a, b] = SENTENCES.map(tokenize) as [string[], string[]];
    expect(rowWords).toEqual([...a, ...b, ...a, ...a.flatMap((w) => [w, w, w, w])]);
    expect(lines).toContain(`Heatmaps of all four runs: ${htmlPath}`);
    const html = readFileSync(htmlPath, 'utf8');
    expect([...html.matchAll(/<section>/g)].length).toBe(4);
    expect(maps.map((m) => m.rows[0]!.weights.length)).toEqual([1, 1, 1, 4]);

    // What it claims, checked against the batch reference: "it" attends the same in both
    // sentences (causal), and its heaviest other words are not dog or park.
    const reference = (words: string[]) => batchAttention(words.map((w) => table.lookup(w)), { dim: 100, scale: 0.1, withWeights: true, precision: 'float64' });
    const itA = reference(a)[7]!.weights![0]!;
    const itB = reference(b)[7]!.weights![0]!;
    expect(Array.from(itA)).toEqual(Array.from(itB));
    const ranked = [...itA.slice(0, 7).entries()].sort((x, y) => y[1] - x[1]).map(([j]) => a[j]);
    expect(ranked.slice(0, 3)).not.toContain('dog');
    expect(ranked.slice(0, 3)).not.toContain('park');
    const claims = lines.join('\n');
    expect(claims).toContain('its row is identical in both sentences');
    expect(claims).toContain(`dog gets ${itA[1]!.toFixed(3)} and park ${itA[5]!.toFixed(3)}`);
  });

  it('takes --out-dir DIR or --out-dir=DIR (default out/), and refuses anything else with exit 2', () => {
    expect(demoArguments([])).toEqual({ outDir: 'out' });
    expect(demoArguments(['--out-dir', '/tmp/x'])).toEqual({ outDir: '/tmp/x' });
    expect(demoArguments(['--out-dir=/tmp/y'])).toEqual({ outDir: '/tmp/y' });
    for (const [argv, message] of [
      [['--out-dirx'], 'unknown argument "--out-dirx"; the demo takes only --out-dir DIR'],
      [['--out-dir'], '--out-dir needs a folder'],
      [['--out-dir='], '--out-dir needs a folder'],
      [['--out-dir', 'a', 'b'], 'unknown argument "b"'],
    ] as const) {
      expect(() => demoArguments(argv)).toThrow(expect.objectContaining({ exitCode: EXIT.usage, message: expect.stringContaining(message) }));
    }
  });

  it('fails at once, before streaming anything, when the folder cannot be made', async () => {
    const lines: string[] = [];
    await expect(runDemo({ write: (l) => lines.push(l), outDir: '/dev/null/x', table: loadEmbeddingTable() })).rejects.toThrow(/ENOTDIR/);
    expect(lines).toEqual([]);
  });
});
