import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { batchAttention, resolveOptions } from '../../src/index.js';
import { tokenize } from '../../src/rx/index.js';
import { EXIT } from '../../src/cli/cli-error.js';
import { loadEmbeddingTable } from '../../src/cli/load-embedding-table.js';
import { parseArguments } from '../../src/cli/parse-arguments.js';
import { RecentWords } from '../../src/cli/recent-words.js';
import { checkReportSize, MAX_JSON_NUMBERS } from '../../src/cli/report-size.js';
import { runCli } from '../../src/cli/run-cli.js';
import type { JsonReport } from '../../src/cli/json-report.js';
import { displayWidth } from '../../src/cli/terminal-text.js';

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

  it('writes HTML, SVG and JSON files chosen by extension and says their path on stderr, leaving stdout to the rows', async () => {
    for (const name of ['map.html', 'map.svg', 'map.json']) {
      const path = join(temp, name);
      const { code, out, err } = await run(['-o', path, 'the dog ran']);
      expect(code).toBe(EXIT.ok);
      expect(err).toBe(`attnstream: heatmap written to ${path}\n`);
      expect(out.trimEnd().split('\n').slice(1)).toEqual(rowLines(out));
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
    expect(await run(['--heads', '3', 'dog'])).toMatchObject({ code: EXIT.usage, err: expect.stringMatching(/^attnstream: --heads 3: the number of heads must divide 100/) });
    expect(await run(['--sinks', '1', 'dog'])).toMatchObject({ code: EXIT.usage, err: expect.stringMatching(/^attnstream: --sinks 1 needs --window/) });
    // No sinks is no sinks, with or without a window, for the command as for the engine.
    expect(await run(['--sinks', '0', 'dog'])).toMatchObject({ code: EXIT.ok, err: '' });
    expect(resolveOptions({ dim: 100, sinks: 0 }).sinks).toBe(0);
    // The engine agrees: these are its refusals, said in flags.
    expect(() => resolveOptions({ dim: 100, heads: 3 })).toThrow(/heads must divide dim \(100\)/);
    expect(() => resolveOptions({ dim: 100, sinks: 1 })).toThrow(/sinks only applies with a window/);
  });

  it('a text argument longer than the width shows every row its own cells, as stdin does, and no header', async () => {
    const text = 'the dog ran around the park because it was open and then the cat sat on the mat while the bird sang in the tree near the house';
    const argument = await run(['--top', '1', text]);
    const piped = await run(['--top', '1'], `${text}\n`);
    expect(argument.code).toBe(EXIT.ok);
    const rows = rowLines(argument.out);
    expect(argument.out.trimEnd().split('\n')).toEqual(rows); // 28 words do not fit 120 columns: no header
    expect(rows.length).toBe(28);
    for (const row of rows) expect(row).toMatch(/[·░▒▓█]{3} +self/);
    const squeezed = (lines: string[]): string[] => lines.map((l) => l.replace(/\s+/g, ' '));
    expect(squeezed(rows)).toEqual(squeezed(rowLines(piped.out)));
    // What follows the cells lines up, as when the whole text fits.
    expect(new Set(rows.map((l) => l.indexOf('  self'))).size).toBe(1);
  });

  it('prints control characters of words as \\u escapes, not raw to the terminal', async () => {
    const { code, out } = await run(['--unknown', 'zero', 'the dog\x1b[31mred cat']);
    expect(code).toBe(EXIT.ok);
    expect(out.replace(/\n/g, '')).not.toMatch(/\p{Cc}/u);
    expect(rowLines(out)[1]).toMatch(/^dog\\u001b\[3…/);
    // Listed among the top words cut as the label is.
    expect(rowLines(out)[2]).toContain('dog\\u001b[3… 0.');
  });

  it('names words and arguments on stderr with DEL and the C1 controls escaped too (U+009B starts a sequence as ESC [ does)', async () => {
    // Found by a security hunt: JSON.stringify, which quoted them, escapes only U+0000–U+001F.
    const word = 'dog\u009b31m\u007f';
    for (const args of [['--unknown', 'skip', `the ${word}`], [`the ${word}`], ['--unknown', word], ['--format', word]]) {
      const { err } = await run(args);
      expect(err).toContain('dog\\u009b31m');
      expect(err.replace(/\n/g, '')).not.toMatch(/\p{Cc}/u);
    }
  });

  it('escapes control characters in flags and paths it names on stderr, so no argument can forge a line or move the cursor', async () => {
    // Found by a review: unknown flags, output names and the errors naming them went out raw.
    const forged = '--a\nattnstream: heatmap written to /etc/passwd';
    for (const args of [[forged], ['--col\x1b[31mor', 'dog'], ['-o', 'out\x1b[2J.txt', 'the', 'cat'], ['--format', 'svg', '-o', 'out\u009b2J.html', 'dog'], ['-o', join(temp, 'missing\x1b[2J', 'x.html'), 'dog']]) {
      const { err } = await run(args);
      expect(err.trimEnd().split('\n')).toHaveLength(1);
      expect(err.trimEnd()).not.toMatch(/\p{Cc}/u);
    }
    const { err } = await run(['-o', join(temp, 'ok\x1b[2J.json'), 'dog']);
    expect(err).toContain('heatmap written to');
    expect(err.trimEnd()).not.toMatch(/\p{Cc}/u);
  });

  it('-o - --format json escapes DEL and the C1 controls too: the same JSON, nothing a terminal acts on', async () => {
    // Found by a review: JSON.stringify leaves U+007F–U+009F raw, and U+009B is a terminal's CSI.
    const { code, out } = await run(['--unknown', 'zero', '-o', '-', '--format', 'json', 'the dog\u009b2J\u007f']);
    expect(code).toBe(EXIT.ok);
    expect(out).not.toMatch(/[\u007f-\u009f]/);
    expect(out).toContain('dog\\u009b2J\\u007f');
    expect((JSON.parse(out) as JsonReport).words).toEqual(['the', 'dog\u009b2J\u007f']);
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

/**
 * Lines of ten known words, as many as `lines` (endless without), counting how many were read. Each
 * arrives on a later turn of the event loop, as from a pipe: a source that never yields would leave
 * no turn for stdout's events.
 */
function wordLines(lines = Infinity): Readable & { linesRead: number } {
  const words = ['the', 'cat', 'sat', 'on', 'mat', 'dog', 'ran', 'park', 'because', 'was'];
  const stream = new Readable({
    read() {
      setImmediate(() => {
        if (stream.linesRead >= lines) {
          stream.push(null);
          return;
        }
        stream.push(`${Array.from({ length: 10 }, (_, k) => words[(stream.linesRead + k * 7) % 10]).join(' ')}\n`);
        stream.linesRead++;
      });
    },
  }) as Readable & { linesRead: number };
  stream.linesRead = 0;
  return stream;
}

/** A stdout that is a Node event emitter: it can fail (emit 'error') and ask for 'drain'. */
class FakeStdout extends EventEmitter {
  text = '';
  writes = 0;
  constructor(private readonly accept: (writes: number) => boolean = () => true) {
    super();
  }
  write(text: string): boolean {
    this.text += text;
    return this.accept(++this.writes);
  }
}

const epipe = (): NodeJS.ErrnoException => Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: -32, syscall: 'write' });

/** Runs the command with stdout a terminal of `columns` (or piped, with `columns` null) and `env`. */
async function runOn(columns: number | null, argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  let out = '';
  const stdout = { write: (t: string) => (out += t), isTTY: columns !== null, ...(columns === null ? {} : { columns }) };
  const code = await runCli(argv, { stdin: Readable.from([]), stdout, stderr: { write: () => true }, env });
  return { code, out };
}
const ANSI = /\x1b\[[\d;]*m/g;

describe('attnstream on a terminal', () => {
  it("fits every row to the terminal's width, down to the label and one cell (an audit: 87–92 columns at 80, 58–91 at 20)", async () => {
    for (const columns of [200, 120, 80, 60, 40, 20]) {
      const { code, out } = await runOn(columns, [SENTENCE]);
      expect(code).toBe(EXIT.ok);
      const lines = out.trimEnd().replace(ANSI, '').split('\n');
      expect(lines.filter((l) => !l.startsWith(' ')).length).toBe(10); // a row per word, under the header when it fits
      for (const line of lines) expect(displayWidth(line), `${columns} columns: ${line}`).toBeLessThanOrEqual(columns);
    }
    // Narrower than the label and a cell: those still, and nothing else.
    const { out } = await runOn(10, [SENTENCE], { NO_COLOR: '1' });
    const lines = out.split('\n').slice(0, -1);
    expect(lines.length).toBe(10);
    for (const line of lines) expect(line).toMatch(/^\S+ +(… | {2})[·░▒▓█]{3} $/);
  });

  it('cuts the top words, however long, to 120 columns when piped (an audit: 187 columns with --top 5)', async () => {
    const long = 'x'.repeat(100_000);
    const { code, out } = await run(['--unknown', 'zero', '--top', '5', `the representatives ${long} international organizations environmental`]);
    expect(code).toBe(EXIT.ok);
    for (const line of out.trimEnd().split('\n')) expect(displayWidth(line)).toBeLessThanOrEqual(120);
    expect(rowLines(out)[2]).toMatch(/^x{11}… /);
    // On a terminal whose width is not known, the same.
    expect((await runOn(null, ['--top', '5', SENTENCE])).out).toBe((await run(['--top', '5', SENTENCE])).out);
  });

  it('colours a terminal by default, not when TERM is dumb or NO_COLOR is set (an empty NO_COLOR does not count); FORCE_COLOR colours a pipe; --color and --no-color win', async () => {
    const coloured = async (columns: number | null, argv: string[], env: Record<string, string>): Promise<boolean> => (await runOn(columns, [...argv, 'the dog'], env)).out.includes('\x1b[');
    expect(await coloured(80, [], {})).toBe(true);
    expect(await coloured(80, [], { TERM: 'xterm-256color' })).toBe(true);
    expect(await coloured(80, [], { TERM: 'dumb' })).toBe(false);
    expect(await coloured(80, [], { NO_COLOR: '1' })).toBe(false);
    expect(await coloured(80, [], { NO_COLOR: '' })).toBe(true);
    expect(await coloured(null, [], {})).toBe(false);
    expect(await coloured(null, [], { FORCE_COLOR: '1' })).toBe(true);
    expect(await coloured(null, [], { FORCE_COLOR: '' })).toBe(false);
    expect(await coloured(80, [], { FORCE_COLOR: '0' })).toBe(false);
    expect(await coloured(80, [], { TERM: 'dumb', NO_COLOR: '1', FORCE_COLOR: '3' })).toBe(true);
    expect(await coloured(null, ['--no-color'], { FORCE_COLOR: '1' })).toBe(false);
    expect(await coloured(80, ['--color'], { TERM: 'dumb', NO_COLOR: '1' })).toBe(true);
  });
});

describe('attnstream on long, closed and broken streams', () => {
  it('with --window, the words it holds stay bounded on a long stdin stream, and every row still names the words it attended', async () => {
    const most = new Map<RecentWords, number>();
    const push = RecentWords.prototype.push;
    const spy = vi.spyOn(RecentWords.prototype, 'push').mockImplementation(function (this: RecentWords, word: string) {
      push.call(this, word);
      most.set(this, Math.max(most.get(this) ?? 0, this.retained));
    });
    try {
      const { code, out, err } = await run(['--window', '8', '--sinks', '2', '--lookahead', '3', '--top', '9'], wordLines(2_000));
      expect({ code, err }).toEqual({ code: EXIT.ok, err: '' });
      const rows = rowLines(out);
      expect(rows.length).toBe(20_000);
      expect(out).not.toMatch(/#\d/); // an attended word that had been forgotten would print as #position
    } finally {
      spy.mockRestore();
    }
    // The command's words and streamAttention's: each within sinks + 2 × (window + lookahead).
    expect(most.size).toBe(2);
    for (const held of most.values()) expect(held).toBeLessThanOrEqual(2 + 2 * (8 + 3));
  });

  it('rows drawn from the words it holds are those of the whole text: top words from a windowed long stream match batch attention', async () => {
    const words = tokenize('the cat sat on the mat because the dog ran to the park and was open '.repeat(20));
    const { out } = await run(['--window', '5', '--sinks', '1', '--top', '2', '--precision', 'float64'], `${words.join(' ')}\n`);
    const reference = batchAttention(words.map((w) => table.lookup(w)), { dim: 100, scale: 0.1, window: 5, sinks: 1, withWeights: true, precision: 'float64' });
    const rows = rowLines(out);
    for (const i of [0, 1, 7, 150, words.length - 1]) {
      const step = reference[i]!;
      const top = [...step.positions!].map((p, n) => [p, step.weights![0]![n]!] as const).filter(([p]) => p !== i).sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 2);
      expect(rows[i]).toContain(top.map(([p, w]) => `${words[p]} ${w.toFixed(2)}`).join(', '));
    }
  });

  it('counts every word not in the table but keeps only the first ten to list', async () => {
    const { code, err } = await run(['--unknown', 'skip'], `dog ${'x1 '.repeat(5_000)}\n`);
    expect(code).toBe(EXIT.ok);
    expect(err).toMatch(/^attnstream: skipped 5000 words not in the table: ("x1" \(line 1, word \d+\), ){10}…\n$/);
  });

  it('ends quietly with exit 0 when stdout closes (EPIPE), and stops reading stdin', async () => {
    const stdin = wordLines();
    const stdout = new FakeStdout((writes) => {
      if (writes === 5) setImmediate(() => stdout.emit('error', epipe()));
      return true;
    });
    let err = '';
    const code = await runCli(['--window', '4'], { stdin, stdout, stderr: { write: (t: string) => (err += t) }, env: {} });
    expect({ code, err }).toEqual({ code: EXIT.ok, err: '' });
    // Paused, the stream may still fill its buffer (16 KB, about 400 lines), then reads no more: wait
    // until the count holds for 100 ms (on a loaded machine filling takes longer than a fixed wait).
    let read = -1;
    for (let i = 0; i < 50 && stdin.linesRead !== read; i++) {
      read = stdin.linesRead;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(stdin.linesRead).toBe(read);
    expect(read).toBeLessThan(1_000);
  });

  it('another stdout failure is exit 1 and one line', async () => {
    const stdout = new FakeStdout((writes) => {
      if (writes === 2) setImmediate(() => stdout.emit('error', Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })));
      return true;
    });
    let err = '';
    const code = await runCli([], { stdin: wordLines(), stdout, stderr: { write: (t: string) => (err += t) }, env: {} });
    expect({ code, err }).toEqual({ code: EXIT.failure, err: 'attnstream: cannot write to stdout: no space left on device\n' });
  });

  it('pauses stdin while written rows wait for the reader (write returned false) and resumes on drain', async () => {
    const stdin = new PassThrough();
    const stdout = new FakeStdout(() => false);
    const done = runCli([], { stdin, stdout, stderr: { write: () => true }, env: {} });
    stdin.write('the dog ran\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(rowLines(stdout.text).length).toBe(3);
    expect(stdin.isPaused()).toBe(true);
    stdout.emit('drain');
    expect(stdin.isPaused()).toBe(false);
    stdin.end('home\n');
    expect(await done).toBe(EXIT.ok);
    expect(rowLines(stdout.text).length).toBe(4);
  });

  it('an unexpected error is one line naming it; ATTNSTREAM_DEBUG shows its stack', async () => {
    const failing = (env: Record<string, string>) => {
      let err = '';
      const stdout = { write: (): never => { throw new TypeError('stdout is\nbroken'); } };
      return runCli(['the dog'], { stdin: Readable.from([]), stdout, stderr: { write: (t: string) => (err += t) }, env }).then((code) => ({ code, err }));
    };
    expect(await failing({})).toEqual({ code: EXIT.failure, err: 'attnstream: TypeError: stdout is broken (ATTNSTREAM_DEBUG=1 shows where)\n' });
    const debug = await failing({ ATTNSTREAM_DEBUG: '1' });
    expect(debug.code).toBe(EXIT.failure);
    expect(debug.err).toMatch(/^attnstream: TypeError: stdout is\nbroken\n\s+at /);
  });

  it('a stdin that cannot be read is exit 1 naming the read error, not "no words"', async () => {
    const stdin = new Readable({
      read() {
        this.destroy(Object.assign(new Error('EISDIR: illegal operation on a directory, read'), { code: 'EISDIR' }));
      },
    });
    expect(await run([], stdin)).toEqual({ code: EXIT.failure, out: '', err: 'attnstream: cannot read stdin: EISDIR: illegal operation on a directory, read\n' });
  });

  it('with --lookahead, the rows before an unknown word are printed (computed over the words before it) before the error', async () => {
    const { code, out, err } = await run(['--lookahead', '2', '--precision', 'float64', 'the cat sat on a mat']);
    expect(code).toBe(EXIT.input);
    expect(err).toContain('unknown word "a" at word 5');
    const rows = rowLines(out);
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(['the', 'cat', 'sat', 'on']);
    const before = ['the', 'cat', 'sat', 'on'];
    const reference = batchAttention(before.map((w) => table.lookup(w)), { dim: 100, scale: 0.1, lookahead: 2, withWeights: true, precision: 'float64' });
    reference.forEach((step, i) => expect(rows[i]).toContain(`self ${step.weights![0]![i]!.toFixed(2)}`));
  });

  it('warns once on stderr when the input is not UTF-8, naming the first such line', async () => {
    const latin1 = Readable.from([Buffer.from('the dog\nthe caf\xe9 was open\nna\xefve\n', 'latin1')]);
    const { code, err } = await run(['--unknown', 'skip'], latin1);
    expect(code).toBe(EXIT.ok);
    expect(err.split('\n').filter((l) => l.includes('UTF-8'))).toEqual([
      'attnstream: line 2 is not valid UTF-8; its invalid bytes are dropped, which can cut words short (further lines are not checked)',
    ]);
    expect((await run(['the caf\uFFFD'], '')).err).toMatch(/^attnstream: the text is not valid UTF-8/);
    expect((await run(['--unknown', 'skip'], 'the café\n')).err).not.toContain('UTF-8');
  });

  it('drops bytes that are not UTF-8 wherever they stand in a word, as the warning says', async () => {
    const latin1 = Readable.from([Buffer.from('the caf\xe9s dog\n', 'latin1')]);
    const { code, out, err } = await run(['--unknown', 'zero'], latin1);
    expect(code).toBe(EXIT.ok);
    expect(rowLines(out).map((l) => l.split(/\s+/)[0])).toEqual(['the', 'cafs', 'dog']);
    expect(out).not.toContain('\uFFFD');
    expect(err).toContain('line 1 is not valid UTF-8; its invalid bytes are dropped');
    expect(rowLines((await run(['--unknown', 'zero', 'the caf\uFFFDs dog'])).out).map((l) => l.split(/\s+/)[0])).toEqual(['the', 'cafs', 'dog']);
  });

  it('quotes a long word in a message cut to 200 columns, so a message stays one short line (a CLI audit: a megabyte word was printed whole)', async () => {
    const word = 'x'.repeat(100_000);
    const { code, err } = await run([`the ${word}`]);
    expect(code).toBe(EXIT.input);
    expect(err).toContain(`"${'x'.repeat(199)}…"`);
    expect(err.length).toBeLessThan(600);
    expect(err.trimEnd().split("\n")).toHaveLength(1);
  });

  it('refuses a heatmap file past what one string holds, saying how to make it smaller, and writes none (a CLI audit: 3,600 words crashed out of memory)', async () => {
    // A picture is words² cells per head: refused from the text before anything is computed.
    const svg = join(temp, 'too-big.svg');
    const words = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'the' : 'dog')).join(' ');
    const picture = await run(['--heads', '2', '-o', svg, words(708)]);
    expect(picture).toEqual({ code: EXIT.failure, out: '', err: expect.stringMatching(/^attnstream: the SVG heatmap of 708 words would have 1002528 cells \(words² per head\), past the 1000000 one file takes: give at most 707 words, or write JSON/) });
    expect(existsSync(svg)).toBe(false);
    // From stdin, once the words read pass it: the rows before are printed, no file.
    const streamed = await run(['-o', svg, '-'], `${words(1001)}\n`);
    expect(streamed.code).toBe(EXIT.failure);
    expect(streamed.err).toMatch(/^attnstream: the SVG heatmap of 1001 words would have 1002001 cells/);
    expect(rowLines(streamed.out)).toHaveLength(1000);
    expect(existsSync(svg)).toBe(false);
    expect((await run(['--heads', '2', '-o', svg, words(707)])).code).toBe(EXIT.ok);
    // JSON holds a position and a weight per head for each attended word: counted row by row.
    expect(() => checkReportSize('json', 6000, MAX_JSON_NUMBERS / 2, 1)).not.toThrow();
    expect(() => checkReportSize('json', 6000, MAX_JSON_NUMBERS / 2 + 1, 1)).toThrow(/JSON heatmap of 6000 words would hold 30000002 numbers/);
    expect(() => checkReportSize('html', 1000, 0, 1)).not.toThrow();
    expect(() => checkReportSize('html', 1001, 0, 1)).toThrow(/HTML heatmap of 1001 words/);
  });

  it('a text argument whose reader goes away (EPIPE) ends quietly with exit 0 and writes no heatmap file, as stdin does', async () => {
    // As Node's stdout on a closed pipe: the failing write returns false, and every later one; 'error' comes a moment later.
    const stdout = new FakeStdout((writes) => {
      if (writes === 3) setImmediate(() => stdout.emit('error', epipe()));
      return writes < 3;
    });
    let err = '';
    const path = join(temp, 'gone.svg');
    const code = await runCli(['-o', path, 'the dog ran around the park because it was open'], { stdin: Readable.from([]), stdout, stderr: { write: (t: string) => (err += t) }, env: {} });
    expect({ code, err }).toEqual({ code: EXIT.ok, err: '' });
    expect(existsSync(path)).toBe(false);
  });

  it('waits for rows still on their way before writing the heatmap file', async () => {
    const stdout = new FakeStdout(() => false);
    const path = join(temp, 'slow.json');
    const done = runCli(['-o', path, 'the dog ran'], { stdin: Readable.from([]), stdout, stderr: { write: () => true }, env: {} });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(existsSync(path)).toBe(false);
    stdout.emit('drain');
    expect(await done).toBe(EXIT.ok);
    expect(existsSync(path)).toBe(true);
  });

  it('refuses an output file it cannot write before reading any input (a live stream may never end)', async () => {
    const stdin = new PassThrough(); // never ends
    const missing = await run(['-o', join(temp, 'missing', 'x.html')], stdin);
    expect(missing).toMatchObject({ code: EXIT.failure, out: '', err: expect.stringMatching(/^attnstream: cannot write .*x\.html: ENOENT/) });
    const directory = await run(['-o', temp, '--format', 'json'], stdin);
    expect(directory).toMatchObject({ code: EXIT.failure, err: `attnstream: cannot write ${temp}: it is a directory\n` });
    const empty = await run(['-o', '', '--format', 'json'], stdin);
    expect(empty).toMatchObject({ code: EXIT.usage, out: '', err: expect.stringMatching(/^attnstream: --output needs a file name/) });
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
    expect(parseArguments(['--scale', '.5', '--lookahead=0', 'a'])).toMatchObject({ scale: 0.5, lookahead: 0 });
    expect(parseArguments(['--scale', '2.5e-1', 'a']).scale).toBe(0.25);
    // A name without a known extension takes --format; one with an extension may repeat it.
    expect(parseArguments(['-o', 'heatmap', '--format', 'svg', 'a']).format).toBe('svg');
    expect(parseArguments(['-o', 'x.SVG', '--format', 'svg', 'a']).format).toBe('svg');
    expect(parseArguments(['-o', '-', '--format', 'json', 'a'])).toMatchObject({ output: '-', format: 'json' });
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
    [['-o', '-'], '-o - writes the heatmap to stdout: add --format html, svg or json'],
    [['--format', 'json', 'the cat'], '--format json needs --output FILE'],
    [['-o', 'x.json', '--format', 'svg'], '--format svg disagrees with --output x.json (a .json name)'],
    [['--color=yes'], '--color takes no value, got "--color=yes"'],
    [['--no-color=1'], '--no-color takes no value'],
    [['--help=x'], '--help takes no value'],
    [['--window', '0x2'], '--window must be an integer ≥ 1, got "0x2"'],
    [['--window', '1e20'], '--window must be an integer ≥ 1, got "1e20"'],
    [['--window', ' 4'], '--window must be an integer ≥ 1, got " 4"'],
    [['--window', '99999999999999999999'], '--window 99999999999999999999 is too large'],
    [['--top', '+3'], '--top must be an integer ≥ 0, got "+3"'],
    [['--scale', '0x1'], '--scale must be a positive number, got "0x1"'],
    [['--scale', ' 1'], '--scale must be a positive number, got " 1"'],
    [['-', 'text'], 'not both'],
    [['-o', '', '--format', 'json', 'the', 'dog'], '--output needs a file name (or - for stdout)'],
    [['--output=', '--format', 'json'], '--output needs a file name'],
  ])('%j is a usage error: %s', (argv, message) => {
    expect(() => parseArguments(argv)).toThrow(expect.objectContaining({ exitCode: EXIT.usage, message: expect.stringContaining(message) }));
  });
});

describe('attnstream as a process', () => {
  const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
  const exec = (command: string, argv: string[], input?: string): Promise<{ code: number; out: string; err: string }> =>
    new Promise((resolve) => {
      const child = execFile(command, argv, { cwd: temp, env: { ...process.env, NO_COLOR: '1' } }, (error, out, err) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, out, err });
      });
      child.stdin!.end(input ?? '');
    });

  it('src/cli/main.ts through tsx: exit codes 0, 2 and 3, and stdin piped in', async () => {
    const main = join(ROOT, 'src', 'cli', 'main.ts');
    const [piped, bad, unknown] = await Promise.all([
      exec(tsx, [main, '--top', '1'], 'the dog\nran home\n'),
      exec(tsx, [main, '--window', 'x', 'dog']),
      exec(tsx, [main, 'a dog']),
    ]);
    expect(piped).toMatchObject({ code: 0, err: '' });
    expect(rowLines(piped.out).map((l) => l.split(/\s+/)[0])).toEqual(['the', 'dog', 'ran', 'home']);
    expect(bad).toMatchObject({ code: 2, out: '', err: 'attnstream: --window must be an integer ≥ 1, got "x" (see attnstream --help)\n' });
    expect(unknown.code).toBe(3);
    expect(unknown.err).toContain('unknown word "a" at word 1');
  });

  it('src/cli/main.ts: a reader that closes early (| head) ends it quietly with exit 0; stdin a directory is exit 1', async () => {
    const main = join(ROOT, 'src', 'cli', 'main.ts');
    const closed = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(tsx, [main, '--window', '4'], { cwd: temp, env: { ...process.env, NO_COLOR: '1' } });
      let err = '';
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      const feed = setInterval(() => child.stdin.write('the cat sat on the mat\n'.repeat(200)), 5);
      child.stdin.on('error', () => clearInterval(feed));
      child.stdout.once('data', () => child.stdout.destroy());
      child.on('exit', (code) => {
        clearInterval(feed);
        resolve({ code, err });
      });
    });
    expect(closed).toEqual({ code: 0, err: '' });

    const directory = openSync('/', 'r');
    const unreadable = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(tsx, [main], { cwd: temp, stdio: [directory, 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.on('exit', (code) => resolve({ code, err }));
    });
    closeSync(directory);
    expect(unreadable).toEqual({ code: 1, err: expect.stringMatching(/^attnstream: cannot read stdin: EISDIR.*\n$/) });

    // A stdout that fails (a full disk) is said once, by the run (a CLI audit: main.ts's listener said it again).
    const full = openSync('/dev/full', 'w');
    const failed = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(tsx, [main], { cwd: temp, stdio: ['pipe', full, 'pipe'] });
      let err = '';
      child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.stdin!.end('the dog ran\n');
      child.on('exit', (code) => resolve({ code, err }));
    });
    closeSync(full);
    expect(failed).toEqual({ code: 1, err: expect.stringMatching(/^attnstream: cannot write to stdout: ENOSPC[^\n]*\n$/) });
  });

  it('src/cli/demo.ts (npm start): a reader that closes early ends it quietly with exit 0 (a CLI audit: a stack trace, exit 1)', async () => {
    const demo = join(ROOT, 'src', 'cli', 'demo.ts');
    const closed = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(tsx, [demo, '--out-dir', join(temp, 'demo')], { cwd: temp, env: { ...process.env, NO_COLOR: '1' } });
      let err = '';
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.stdout.once('data', () => child.stdout.destroy());
      child.on('exit', (code) => resolve({ code, err }));
    });
    expect(closed).toEqual({ code: 0, err: '' });
  });

  // CI runs `npm run build` before the tests; a checkout that has not built skips this.
  it.runIf(existsSync(join(ROOT, 'dist', 'cli', 'main.js')))('the built bin, dist/cli/main.js, runs with plain node', async () => {
    const bin = join(ROOT, 'dist', 'cli', 'main.js');
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const { code, out } = await exec(process.execPath, [bin, '--window', '2', 'the dog ran']);
    expect(code).toBe(0);
    expect(rowLines(out).length).toBe(3);
  });
});
