import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_KEY, SEED_QUERY, SEED_VALUE, tokenRow, tokenRows, value } from '../bench/data.js';
import { engineOptions } from '../bench/impls/attnstream-implementation.js';
import { restoredEngine } from '../bench/impls/restored-engine.js';
import { plainAttention } from '../bench/impls/plain-loops-implementation.js';
import { cpuTimes, stealShare } from '../bench/machine.js';
import { parseOptions } from '../bench/options.js';
import type { BenchResults } from '../bench/report/results.js';
import { interleave } from '../bench/interleave.js';
import { pairedRatios, summarize } from '../bench/stats.js';
import { createAttention } from '../src/index.js';
import { expectClose } from './support/close.js';

// `npm run bench:smoke` end to end: every section and every peer that can run here, at tiny
// sizes. It asserts that the bench runs, that each implementation computed the same attention as
// attnstream, and that the report has its parts. It asserts no time.

const run = promisify(execFile);
let dir = '';
let results: BenchResults;
let markdown = '';
let svg = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'attnstream-bench-smoke-'));
  // run.ts exits non-zero when any implementation's output disagrees with attnstream's.
  await run(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', '--quiet', '--out', dir, '--json', join(dir, 'results.json')], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
  });
  results = JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as BenchResults;
  markdown = await readFile(join(dir, 'performance.md'), 'utf8');
  svg = await readFile(join(dir, 'performance-steps.svg'), 'utf8');
}, 120_000);

afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

describe('npm run bench:smoke', () => {
  it('measures every grid cell for every implementation that started, or says why not', () => {
    const ids = Object.keys(results.labels);
    expect(ids[0]).toBe('attnstream');
    expect(results.grid!.length).toBe(2);
    for (const cell of results.grid!) {
      expect(cell.rows.map((r) => r.id)).toEqual(ids);
      for (const row of cell.rows) {
        if (row.micros === undefined) expect(row.skipped, `${row.id} at n=${cell.cell.n}`).toMatch(/\w/);
        else expect(row.micros.min).toBeLessThanOrEqual(row.micros.median);
      }
      expect(cell.rows.find((r) => r.id === 'attnstream')!.micros).toBeDefined();
    }
  });

  it('checks each peer against attnstream: all outputs agree (1e-3 relative)', () => {
    for (const cell of results.grid!) for (const row of cell.rows) if (row.error !== undefined) expect(row.error, row.id).toBeLessThanOrEqual(1e-3);
    for (const row of results.stream!.rows) if (row.error !== undefined) expect(row.error, row.id).toBeLessThanOrEqual(1e-3);
  });

  it('lists a peer it could not start with the reason, never silently', () => {
    const started = new Set(Object.keys(results.labels));
    for (const id of ['c-1t', 'c-2t', 'numpy', 'ort-matmul', 'ort-attention', 'tfjs-cpu', 'tfjs-wasm']) {
      const unavailable = results.unavailable.find((s) => s.id === id);
      expect(started.has(id) !== (unavailable !== undefined), id).toBe(true);
      if (unavailable) expect(markdown).toContain(`\`${id}\`: **not run** — ${unavailable.reason}`);
    }
  });

  it('measures the engine three times, default kernels, the TypeScript fallback and a pool of 2 threads, beside C', () => {
    expect(Object.keys(results.labels).slice(0, 3)).toEqual(['attnstream', 'attnstream-js', 'attnstream-2t']);
    for (const id of ['attnstream-js', 'attnstream-2t']) {
      for (const cell of results.grid!) expect(cell.rows.find((r) => r.id === id)!.micros, `${id} n=${cell.cell.n}`).toBeDefined();
      expect(results.stream!.rows.find((r) => r.id === id)!.tokensPerSecond).toBeDefined();
    }
    // The pool's outputs are the one thread's, bit for bit.
    for (const cell of results.grid!) expect(cell.rows.find((r) => r.id === 'attnstream-2t')!.error).toBe(0);
    const section = markdown.slice(markdown.indexOf('## Kernels and threads'), markdown.indexOf('## Streaming'));
    // One row for the stream, one per grid cell.
    expect(section.match(/^\| (stream|step), /gm)?.length).toBe(1 + results.grid!.length);
    const fallback = markdown.split('\n').find((line) => line.startsWith('| pure-TS fallback'))!;
    if ('c-1t' in results.labels) expect(fallback).toMatch(/stream: [0-9.]+× of C’s tokens\/s; grid: /);
    else expect(fallback).toContain('— not measured');
  });

  it('runs every other section', () => {
    expect(results.bandwidth!.javascript).toBeGreaterThan(0);
    expect(results.stream!.rows.find((r) => r.id === 'attnstream')!.tokensPerSecond).toBeDefined();
    expect(results.recompute!.rows.map((r) => r.n)).toEqual([8, 16]);
    expect(results.rx).toBeDefined();
    if (results.rx !== undefined && !('skipped' in results.rx)) expect(results.rx.overhead).toBe(results.rx.ratio.median - 1);
    // pushMany is bit for bit one push per token, at every width.
    expect(results.prefill!.rows.map((row) => [row.dim, row.error, row.ratio.count, row.attention.count])).toEqual([[16, 0, 1, 1], [32, 0, 1, 1]]);
    // The least time a prompt token can take: 4·dim² + H·D·(16 + 1) multiply-adds (H = 2, 4 of D = 8) at the probe's peak.
    const peak = results.prefill!.peakGmacs;
    expect(peak).toBeGreaterThan(0);
    expect(results.prefill!.rows.map((row) => row.floor * peak * 1e3)).toEqual([4 * 16 * 16 + 2 * 8 * 17, 4 * 32 * 32 + 4 * 8 * 17].map((m) => expect.closeTo(m, 9)));
    // A prompt over a cache: bit for bit one push per token.
    expect(results.longPrompt!.rows.map((row) => [row.context, row.error, row.ratio.count, row.beamsError, row.beamsRatio.count])).toEqual([[16, 0, 1, 0, 1]]);
    // pushEach is bit for bit a push per beam.
    expect(results.beams!.rows.map((row) => [row.dim, row.error, row.ratio.count])).toEqual([[16, 0, 1]]);
    // createLinear against plain float64 loops: float32 weights and sums, within float32's rounding.
    expect(results.linear!.map((row) => [row.rows, row.cols, row.inputs, row.ratio.count])).toEqual([[8, 4, 1, 1], [8, 4, 5, 1]]);
    for (const row of results.linear!) expect(row.error).toBeLessThanOrEqual(1e-5);
    // 16-bit weights: two layers in turn, bit for bit a float32 layer over the rounded weights, both formats.
    expect(
      results.halfWeights!.map((row) => [row.rows, row.cols, row.layers, row.inputs, row.halves.bfloat16.ratio.count, row.halves.bfloat16.sameBits, row.halves.float16.ratio.count, row.halves.float16.sameBits]),
    ).toEqual([[8, 5, 2, 1, 1, true, 1, true], [8, 5, 2, 5, 1, true, 1, true]]);
    expect(results.sharpness!.rows.map((r) => r.kernels)).toEqual(['auto', 'js']);
    expect(results.sharpness!.error).toBeLessThanOrEqual(1e-5);
    // n = 96: the int8 rows cover a quantized block and a filling one; the RoPE rows attend the window of 48 and 4 sinks.
    expect(results.cacheOptions!.rows.map((r) => [r.variant, r.attended])).toEqual([
      ['float32 cache', 97],
      ['blockSize 256', 97],
      ['blockSize 1,024', 97],
      ['int8 cache', 97],
      ["int8 cache, kernels 'js'", 97],
      ["RoPE 'absolute', window", 52],
      ["RoPE 'cache', window", 52],
    ]);
    expect(results.groupedQuery!.rows.map((r) => [r.kvHeads, r.cacheBytes])).toEqual([[4, 2 * 4 * 8 * 65 * 4], [1, 2 * 8 * 65 * 4]]);
    // float32 cache, H=2, D=8: a key and a value are 2·16·4 bytes, whole 64-token blocks at 64 tokens.
    expect(results.memory!.find((m) => m.storage === 'float32')!.reported).toBe(128);
    expect(results.memory!.find((m) => m.storage === 'float64')!.reported).toBe(256);
  });

  it('writes the report: machine, command, targets and every table', () => {
    for (const heading of [
      '## Machine and versions',
      '## Targets (issue 5)',
      '## Kernels and threads',
      '## Streaming 32 tokens (H = 2, D = 8)',
      '## Decode step at length n: µs per step',
      '### H = 2, D = 8',
      '## Incremental vs recomputing the prefix',
      '## Prefill: pushMany vs one push per token',
      '## Beams: pushEach vs one push per beam',
      "## 16-bit weights: createLinear with weightsDtype 'bfloat16' and 'float16' vs float32",
      '## A flat and a sharply peaked softmax',
      '## Grouped-query heads',
      '## Cache options (H = 2, D = 8, n = 96)',
      '## rx operator overhead',
      '## Memory per cached token',
      '## Memory bandwidth and the floor',
    ]) {
      expect(markdown).toContain(heading);
    }
    expect(markdown).toContain('Generated by `npm run bench:smoke`');
    expect(markdown).toContain(`| node | ${process.version} |`);
    const targets = markdown.slice(markdown.indexOf('## Targets'), markdown.indexOf('## Streaming'));
    expect(targets.match(/^\| (default kernels|threads|n = 32,768|pure-TS|faster than|rx operator|pushMany)/gm)?.length).toBe(7);
    // Linux says how much of the cores' time other guests took during the run.
    if (process.platform === 'linux') expect(markdown).toMatch(/\| time stolen by the hypervisor \| \d+\.\d % of the cores' time/);
  });

  it('plots one line per measured implementation on log-log axes', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    for (const id of Object.keys(results.labels)) expect(svg).toContain(`<title>${id}</title>`);
  });
});

describe('the bench harness', () => {
  it('restores a filled cache exactly as pushQKV would fill it, float32 or int8: the next step is bit-identical', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.constantFrom(2, 4, 8), fc.integer({ min: 0, max: 150 }), fc.boolean(), (heads, headDim, n, int8) => {
        const options = { ...engineOptions(heads, headDim), ...(int8 ? { cacheDtype: 'int8' as const } : {}) };
        const width = heads * headDim;
        const keys = tokenRows(SEED_KEY, n + 1, width);
        const values = tokenRows(SEED_VALUE, n + 1, width);
        const queries = tokenRows(SEED_QUERY, n + 1, width);
        const row = (a: Float32Array, t: number) => a.subarray(t * width, (t + 1) * width);
        const pushed = createAttention(options);
        for (let t = 0; t < n; t++) pushed.pushQKV(row(queries, t), row(keys, t), row(values, t));
        const direct = restoredEngine(options, keys, values, n);
        expect(direct.length).toBe(n);
        expect(direct.stats().tokens).toBe(n);
        const expected = pushed.pushQKV(row(queries, n), row(keys, n), row(values, n));
        const actual = direct.pushQKV(row(queries, n), row(keys, n), row(values, n));
        expect(actual.map((s) => s.index)).toEqual([n]);
        expect(Array.from(actual[0]!.output)).toEqual(Array.from(expected[0]!.output));
      }),
      { numRuns: 40 },
    );
  });

  it('the plain-loop baseline is attention: one key gives its value, equal keys average the values', () => {
    const q = new Float32Array([1, 0]);
    const out = new Float32Array(2);
    plainAttention(out, q, new Float32Array([3, 4]), new Float32Array([5, 6]), 1, 1, 2, new Float64Array(1), new Float64Array(2));
    expect(Array.from(out)).toEqual([5, 6]);
    plainAttention(out, q, new Float32Array([1, 1, 1, 1]), new Float32Array([0, 2, 4, 6]), 2, 1, 2, new Float64Array(2), new Float64Array(2));
    expectClose(out, [2, 4], 1e-7);
  });

  it('hashes inputs to float32 values in [-0.5, 0.5), one row per token', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.nat(1 << 26), (seed, i) => {
        const x = value(seed, i);
        expect(x).toBeGreaterThanOrEqual(-0.5);
        expect(x).toBeLessThan(0.5);
        expect(Math.fround(x)).toBe(x);
      }),
    );
    const rows = tokenRows(SEED_KEY, 3, 4);
    expect(Array.from(tokenRow(new Float32Array(4), SEED_KEY, 2, 4))).toEqual(Array.from(rows.subarray(8, 12)));
  });

  it('takes the stolen share from two readings of /proc/stat: steal ticks over all ticks between them', () => {
    expect(stealShare({ total: 1000, steal: 10 }, { total: 1400, steal: 110 })).toBe(0.25);
    expect(stealShare(null, { total: 1, steal: 0 })).toBeNull();
    expect(stealShare({ total: 5, steal: 0 }, { total: 5, steal: 0 })).toBeNull();
    const now = cpuTimes();
    if (process.platform === 'linux') expect(now !== null && now.steal >= 0 && now.steal <= now.total).toBe(true);
  });

  it('summarizes samples: the median of an even count is the mean of the middle two', () => {
    expect(summarize([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5, count: 3 });
    expect(summarize([4, 1, 3, 2]).median).toBe(2.5);
  });

  it('interleaves: each contender once untimed, then rounds that start one further along the list', () => {
    const calls: string[] = [];
    const contender = (id: string, seconds: number) => ({ id, run: () => (calls.push(id), seconds) });
    const seconds = interleave([contender('a', 1), contender('b', 2), contender('c', 3)], 3);
    expect(calls.join('')).toBe('abc' + 'abc' + 'bca' + 'cab');
    expect([...seconds.entries()]).toEqual([
      ['a', [1, 1, 1]],
      ['b', [2, 2, 2]],
      ['c', [3, 3, 3]],
    ]);
  });

  it('pairs ratios by round: a slowdown both contenders saw in one round cancels out', () => {
    // Rounds 2 and 3 ran on a busy machine (both 3× slower), and round 5's second run met a
    // hiccup of its own: the ratio of the medians says 6, each round but the last says 2.
    const slower = [2, 6, 6, 2, 8];
    const faster = [1, 3, 3, 1, 1];
    expect(summarize(slower).median / summarize(faster).median).toBe(6);
    expect(pairedRatios(slower, faster)).toEqual({ median: 2, min: 2, max: 8, count: 5 });
    expect(() => pairedRatios([1, 2], [1])).toThrow(/different rounds/);
  });

  it('parses --cells patterns against the full grid and refuses what it cannot read', () => {
    const cells = parseOptions(['--cells', '8x128x*,1x64x128']).profile.cells;
    expect(cells.map((c) => `${c.heads}x${c.headDim}x${c.n}`)).toEqual(['1x64x128', '8x128x128', '8x128x1024', '8x128x8192', '8x128x32768']);
    expect(parseOptions(['--peers', 'c,numpy']).implementations).toEqual(new Set(['attnstream', 'c-1t', 'c-2t', 'numpy']));
    expect(parseOptions([]).implementations.has('attnstream-js')).toBe(true);
    expect(() => parseOptions(['--cells', '8x64'])).toThrow(/HxDxN/);
    expect(() => parseOptions(['--peers', 'torch'])).toThrow(/unknown implementation torch/);
  });
});
