import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { batchAttention } from '../../src/index.js';
import { tokenize } from '../../src/rx/index.js';
import { EXIT } from '../../src/cli/cli-error.js';
import { loadEmbeddingTable } from '../../src/cli/load-embedding-table.js';
import { parseArguments } from '../../src/cli/parse-arguments.js';
import { runCli } from '../../src/cli/run-cli.js';
import type { JsonReport } from '../../src/cli/json-report.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SENTENCE = 'The dog ran around the park because it was excited';
const table = loadEmbeddingTable();
const temp = mkdtempSync(join(tmpdir(), 'attnstream-cli-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/** Runs the command in-process with `input` on stdin (a non-terminal, as when piped). */
async function run(argv: string[], input: string | Readable = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stdin = typeof input === 'string' ? Readable.from([input]) : input;
  const code = await runCli(argv, {
    stdin,
    stdout: { write: (t: string) => (out += t), isTTY: false },
    stderr: { write: (t: string) => (err += t) },
    env: {},
  });
  return { code, out, err };
}

const rowLines = (out: string): string[] => out.split('\n').filter((l) => /self \d\.\d\d/.test(l));

describe('attnstream, in-process', () => {
  it('prints a header and one row per word, in order, with its own weight and its top words', async () => {
    const { code, out, err } = await run([SENTENCE]);
    expect(code).toBe(EXIT.ok);
    expect(err).toBe('');
    const lines = out.trimEnd().split('\n');
    expect(lines[0]!.trim().split(/\s+/)).toEqual(tokenize(SENTENCE).map((w) => w.slice(0, 3)));
    const rows = rowLines(out);
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(tokenize(SENTENCE));
    // "it" (word 8): seed mode, scale 1/10, checked against the batch reference.
    const words = tokenize(SENTENCE);
    const reference = batchAttention(words.map((w) => table.lookup(w)), { dim: 100, scale: 0.1, withWeights: true, precision: 'float64' })[7]!;
    expect(rows[7]).toContain(`self ${reference.weights![0]![7]!.toFixed(2)}`);
    const order = [...reference.weights![0]!.slice(0, 7).entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 3);
    expect(rows[7]).toContain(order.map(([j, w]) => `${words[j]} ${w.toFixed(2)}`).join(', '));
  });

  it('-o - --format json writes the rows as JSON equal to batch attention with the same flags', async () => {
    const { code, out } = await run(['--window', '3', '--sinks', '1', '--heads', '2', '--precision', 'float64', '--lookahead', '1', '-o', '-', '--format', 'json', SENTENCE]);
    expect(code).toBe(EXIT.ok);
    const report = JSON.parse(out) as JsonReport;
    const words = tokenize(SENTENCE);
    expect(report.words).toEqual(words);
    const reference = batchAttention(words.map((w) => table.lookup(w)), {
      dim: 100, heads: 2, scale: 1 / Math.sqrt(50), window: 3, sinks: 1, lookahead: 1, precision: 'float64', withWeights: true,
    });
    expect(report.rows.length).toBe(words.length);
    report.rows.forEach((row, i) => {
      expect(row.positions).toEqual(Array.from(reference[i]!.positions!));
      row.weights.forEach((w, h) => w.forEach((v, n) => expect(v).toBeCloseTo(reference[i]!.weights![h]![n]!, 12)));
    });
    expect(report.options).toMatchObject({ window: 3, sinks: 1, heads: 2, lookahead: 1, unknown: 'error' });
  });

  it('writes HTML, SVG and JSON files chosen by extension and prints their path', async () => {
    for (const name of ['map.html', 'map.svg', 'map.json']) {
      const path = join(temp, name);
      const { code, out } = await run(['-o', path, 'the dog ran']);
      expect(code).toBe(EXIT.ok);
      expect(out).toContain(`heatmap: ${path}`);
      const text = readFileSync(path, 'utf8');
      if (name.endsWith('html')) expect(text).toMatch(/^<!doctype html>[\s\S]*<svg [\s\S]*<\/html>\n$/);
      if (name.endsWith('svg')) expect(text).toMatch(/^<svg [\s\S]*<\/svg>$/);
      if (name.endsWith('json')) expect((JSON.parse(text) as JsonReport).rows.length).toBe(3);
    }
  });

  it('stops at an unknown word with exit 3, naming it and its position, before printing its row', async () => {
    const { code, out, err } = await run(['the dog saw a cat']);
    expect(code).toBe(EXIT.input);
    expect(err).toMatch(/^attnstream: unknown word "a" at word 4: .*--unknown skip.*--unknown zero/);
    expect(rowLines(out).map((l) => l.split(/\s+/)[0])).toEqual(['the', 'dog', 'saw']);
  });

  it('--unknown skip leaves unknown words out; --unknown zero gives them a zero vector (equal weights); both say so on stderr', async () => {
    const skip = await run(['--unknown', 'skip', 'I saw a dog']);
    expect(skip.code).toBe(EXIT.ok);
    expect(rowLines(skip.out).map((l) => l.split(/\s+/)[0])).toEqual(['saw', 'dog']);
    expect(skip.err).toBe('attnstream: skipped 2 words not in the table: "I" (word 1), "a" (word 3)\n');
    const zero = await run(['--unknown', 'zero', 'saw a dog']);
    expect(zero.code).toBe(EXIT.ok);
    // "a" scores 0 against "saw" and itself: half and half.
    expect(rowLines(zero.out)[1]).toMatch(/^a\s.*self 0\.50 {2}saw 0\.50$/);
    expect(zero.err).toContain('gave a zero vector to 1 word not in the table: "a" (word 2)');
  });

  it('exit 3 when there are no words at all', async () => {
    expect((await run(['...'])).code).toBe(EXIT.input);
    expect((await run(['--unknown', 'skip', 'a i'])).err).toContain('no words in the table: "a", "i"');
  });

  it('streams stdin line by line: the rows of a line are printed before the next line is written', async () => {
    const stdin = new PassThrough();
    let out = '';
    const done = runCli([], { stdin, stdout: { write: (t: string) => (out += t) }, stderr: { write: () => true }, env: {} });
    stdin.write('the dog ran\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(rowLines(out).map((l) => l.split(/\s+/)[0])).toEqual(['the', 'dog', 'ran']);
    stdin.end('around 42 park\n');
    expect(await done).toBe(EXIT.input);
    expect(rowLines(out).length).toBe(4);
  });

  it('names the line and word of an unknown word on stdin', async () => {
    const { code, err } = await run([], 'the dog\nran 42 home\n');
    expect(code).toBe(EXIT.input);
    expect(err).toContain('unknown word "42" at line 2, word 2');
  });

  it('refuses options the engine refuses with exit 2 and its message', async () => {
    expect(await run(['--heads', '3', 'dog'])).toMatchObject({ code: EXIT.usage, err: expect.stringContaining('heads must divide dim (100)') });
    expect(await run(['--sinks', '1', 'dog'])).toMatchObject({ code: EXIT.usage, err: expect.stringContaining('sinks only applies with a window') });
  });

  it('exit 1 when the output file cannot be written', async () => {
    const { code, err } = await run(['-o', join(temp, 'missing', 'x.svg'), 'dog']);
    expect(code).toBe(EXIT.failure);
    expect(err).toMatch(/^attnstream: cannot write .*x\.svg/);
  });

  it('--help and --version exit 0', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(EXIT.ok);
    for (const section of ['Usage', 'Flags', 'Examples', 'Exit codes']) expect(help.out).toContain(section);
    const version = await run(['--version']);
    expect(version.out).toBe(`${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`);
  });
});

describe('the pictures in docs/images', () => {
  const S1 = 'The dog ran around the park because it was excited';
  const S2 = 'The dog ran around the park because it was open';
  it.each([
    ['it-was-excited.svg', [S1]],
    ['it-was-open.svg', [S2]],
    ['window-4.svg', ['--window', '4', S1]],
    ['heads-4.svg', ['--heads', '4', S1]],
    ['lookahead-2.svg', ['--lookahead', '2', S1]],
  ])('%s is what `attnstream … -o docs/images/%s` draws today', async (name, argv) => {
    const path = join(temp, name);
    expect((await run(['-o', path, ...argv])).code).toBe(EXIT.ok);
    expect(readFileSync(join(ROOT, 'docs', 'images', name), 'utf8')).toBe(readFileSync(path, 'utf8'));
  });
});

describe('parseArguments', () => {
  it('joins the words, reads flags as --flag value or --flag=value, and fills defaults', () => {
    expect(parseArguments(['the', '--window=4', 'dog', '--top', '5'])).toEqual({
      text: 'the dog', window: 4, heads: 1, lookahead: 0, precision: 'float32', top: 5, unknown: 'error', color: 'auto', help: false, version: false,
    });
    expect(parseArguments([]).text).toBeNull();
    expect(parseArguments(['-']).text).toBeNull();
    expect(parseArguments(['--', '--window']).text).toBe('--window');
    expect(parseArguments(['-o', 'x.HTM', 'a']).format).toBe('html');
    expect(parseArguments(['--no-color', 'a']).color).toBe(false);
  });

  it.each([
    [['--bogus'], 'unknown flag --bogus'],
    [['--window'], '--window needs a value'],
    [['--window', '0'], '--window must be an integer ≥ 1, got "0"'],
    [['--window', '2.5'], '--window must be an integer ≥ 1, got "2.5"'],
    [['--sinks', '-1'], '--sinks must be an integer ≥ 0, got "-1"'],
    [['--scale', '0'], '--scale must be a positive number, got "0"'],
    [['--precision', 'float16'], '--precision must be float32 or float64'],
    [['--unknown', 'ignore'], '--unknown must be error, skip or zero'],
    [['--format', 'png'], '--format must be html, svg or json'],
    [['-o', 'x.txt'], 'cannot tell the format'],
    [['-o', '-'], 'cannot tell the format'],
    [['-', 'text'], 'not both'],
  ])('%j is a usage error: %s', (argv, message) => {
    expect(() => parseArguments(argv)).toThrow(expect.objectContaining({ exitCode: EXIT.usage, message: expect.stringContaining(message) }));
  });
});

describe('attnstream as a process', () => {
  const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
  const spawn = (command: string, argv: string[], input?: string): Promise<{ code: number; out: string; err: string }> =>
    new Promise((resolve) => {
      const child = execFile(command, argv, { cwd: temp, env: { ...process.env, NO_COLOR: '1' } }, (error, out, err) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, out, err });
      });
      child.stdin!.end(input ?? '');
    });

  it('src/cli/main.ts through tsx: exit codes 0, 2 and 3, and stdin piped in', async () => {
    const main = join(ROOT, 'src', 'cli', 'main.ts');
    const [piped, bad, unknown] = await Promise.all([
      spawn(tsx, [main, '--top', '1'], 'the dog\nran home\n'),
      spawn(tsx, [main, '--window', 'x', 'dog']),
      spawn(tsx, [main, 'a dog']),
    ]);
    expect(piped).toMatchObject({ code: 0, err: '' });
    expect(rowLines(piped.out).map((l) => l.split(/\s+/)[0])).toEqual(['the', 'dog', 'ran', 'home']);
    expect(bad).toMatchObject({ code: 2, out: '', err: 'attnstream: --window must be an integer ≥ 1, got "x" (see attnstream --help)\n' });
    expect(unknown.code).toBe(3);
    expect(unknown.err).toContain('unknown word "a" at word 1');
  });

  // CI runs `npm run build` before the tests; a checkout that has not built skips this.
  it.runIf(existsSync(join(ROOT, 'dist', 'cli', 'main.js')))('the built bin, dist/cli/main.js, runs with plain node', async () => {
    const bin = join(ROOT, 'dist', 'cli', 'main.js');
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const { code, out } = await spawn(process.execPath, [bin, '--window', '2', 'the dog ran']);
    expect(code).toBe(0);
    expect(rowLines(out).length).toBe(3);
  });
});
