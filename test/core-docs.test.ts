import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { alibiSlopes, createAttention, yarnRope } from '../src/index.js';
import type { AttentionOptions } from '../src/index.js';
import { decodeSafetensors } from '../src/cache/safetensors.js';
import { expectClose } from './support/close.js';

// The core documentation states numbers, names and line numbers taken from the code. These tests
// recompute them from the engine, so that a page cannot drift from what the code does.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** The `n`-th fenced block of `language` in a Markdown file. */
function codeBlock(markdown: string, language: string, n = 0): string {
  const blocks = [...markdown.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)\\n```', 'g'))];
  expect(blocks.length, `${language} block ${n}`).toBeGreaterThan(n);
  return blocks[n]![1]!;
}

/**
 * Runs a TypeScript block from the docs as a user would, with `attnstream` resolved to this
 * repository's source. Each console.log prints one line of JSON (typed arrays as plain arrays).
 */
async function runBlock(code: string): Promise<unknown[]> {
  const shim = `const __show = (v: unknown): unknown => ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v;
console.log = (...args: unknown[]) => process.stdout.write(JSON.stringify(args.length === 1 ? __show(args[0]) : args.map(__show)) + '\\n');
`;
  const source = shim + code.replace(/from 'attnstream'/g, `from '${join(ROOT, 'src', 'index.ts')}'`);
  const file = join(mkdtempSync(join(tmpdir(), 'attnstream-docs-')), 'block.ts');
  writeFileSync(file, source);
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(join(ROOT, 'node_modules', '.bin', 'tsx'), [file], (error, out, err) => (error === null ? resolve(out) : reject(new Error(`${error.message}\n${err}`)))),
  );
  return stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown);
}

/** The numbers of a comment such as `// [0.2119, 1, 0.5761] the weights`, with their decimals. */
function commentNumbers(line: string): { value: number; decimals: number }[] {
  const list = /\/\/ \[([^\]]*)\]/.exec(line)![1]!;
  return list.split(',').map((s) => ({ value: Number(s), decimals: (s.trim().split('.')[1] ?? '').length }));
}

describe('README.md', () => {
  it('the example runs and prints the numbers its comments show', async () => {
    const code = codeBlock(read('README.md'), 'ts');
    const shown = code.split('\n').filter((line) => line.includes('console.log(') && /\/\/ \[/.test(line));
    const printed = await runBlock(code);
    expect(printed).toHaveLength(shown.length);
    shown.forEach((line, n) => {
      const actual = printed[n] as number[];
      const expected = commentNumbers(line);
      expect(actual.map((v, c) => Number(v.toFixed(expected[c]!.decimals))), line).toEqual(expected.map((e) => e.value));
    });
  });

  it('has the two-command quick start', () => {
    const quickStart = codeBlock(read('README.md'), 'sh');
    expect(quickStart).toMatch(/^npm install && npm start /m);
    expect(quickStart).toMatch(/^npm test /m);
  });
});

describe('docs/errors.md', () => {
  it('has a section for exactly the codes of AttentionErrorCode', () => {
    const union = /export type AttentionErrorCode =([^;]*);/.exec(read('src/errors.ts'))![1]!;
    const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]!).sort();
    const sections = [...read('docs/errors.md').matchAll(/^### `([A-Z_]+)`$/gm)].map((m) => m[1]!).sort();
    expect(sections).toEqual(codes);
  });

  it('names every code that src/ throws, and no other', () => {
    const thrown = new Set<string>();
    const files = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => `src/${f}`);
    for (const file of files) for (const m of read(file).matchAll(/new AttentionError\(\s*'([A-Z_]+)'/g)) thrown.add(m[1]!);
    const table = [...read('docs/errors.md').matchAll(/^\| \[`([A-Z_]+)`\]/gm)].map((m) => m[1]!);
    expect([...thrown].every((code) => table.includes(code)), [...thrown].join(', ')).toBe(true);
  });
});

describe('docs/math.md', () => {
  it('every "`code` at `file:line`" citation still points at that code', () => {
    const citations = [...read('docs/math.md').matchAll(/`([^`]+)`\s+at\s+`(src\/[\w/.-]+\.ts):(\d+)`/g)];
    expect(citations.length).toBeGreaterThan(15);
    for (const [, code, file, line] of citations) {
      const text = read(file!).split('\n')[Number(line) - 1] ?? '';
      expect(text, `docs/math.md cites ${file}:${line} for \`${code}\`; update the line number`).toContain(code!);
    }
  });

  it('the overflow example: scores 930 and 961 overflow a naive softmax, the engine gives the numbers shown', () => {
    const page = read('docs/math.md');
    expect(Math.exp(961)).toBe(Infinity);
    expect(Number.isNaN(Math.exp(961) / (Math.exp(930) + Math.exp(961)))).toBe(true);
    const attn = createAttention({ dim: 1, precision: 'float64', withWeights: true });
    attn.push([30]);
    const [step] = attn.push([31]);
    const [w0, w1] = Array.from(step!.weights![0]!);
    expect(page).toContain(`${w0!.toPrecision(5)}, ${w1!.toFixed(14)}`);
    expect(page).toContain(String(step!.output[0]));
  });

  it('with look-ahead the ALiBi bias is symmetric, −m·|i − j|', () => {
    // Zero tokens make every raw score 0, so the weights are softmax(−m·|i − j|) alone.
    const attn = createAttention({ dim: 2, heads: 2, positions: 'alibi', lookahead: 2, precision: 'float64', withWeights: true });
    const steps = [...attn.pushMany([[0, 0], [0, 0], [0, 0], [0, 0]]), ...attn.flush()];
    const slopes = alibiSlopes(2);
    const step = steps.find((s) => s.index === 1)!; // attends 0, 1, 2, 3: distances 1, 0, 1, 2
    slopes.forEach((m, h) => {
      const e = [1, 0, 1, 2].map((d) => Math.exp(-m * d));
      const z = e.reduce((a, b) => a + b, 0);
      expectClose(step.weights![h]!, e.map((v) => v / z), 1e-15);
    });
  });
});

describe('docs/guides/long-streams.md', () => {
  const page = read('docs/guides/long-streams.md');
  const x = (t: number): Float64Array => Float64Array.from({ length: 64 }, (_, c) => Math.sin(t * 0.37 + c));
  const comma = (n: number): string => n.toLocaleString('en-US');

  /** stats().bytes after each of 1 … upTo pushes. */
  function bytesOverTime(options: AttentionOptions, upTo: number): number[] {
    const attn = createAttention(options);
    const bytes: number[] = [];
    for (let t = 0; t < upTo; t++) {
      attn.push(x(t));
      bytes.push(attn.stats().bytes);
    }
    return bytes;
  }

  it('the example prints what the page says', async () => {
    const printed = await runBlock(codeBlock(page, 'ts'));
    expect(printed[0]).toBe('released [64, 128) at length 383');
    expect(page).toContain('It prints `released [64, 128) at length 383`');
    const comment = /console\.log\(attn\.stats\(\)\); \/\/ (\{.*\})/.exec(page)![1]!;
    expect(printed.at(-1)).toEqual(JSON.parse(comment.replace(/(\w+):/g, '"$1":')));
  });

  it('the memory table: measured at 1, 64, 256 and 1,000 tokens; windowed rows repeat with the block period after the window fills', () => {
    const cells = (bytes: number[], steady: string): string => [1, 64, 256].map((n) => comma(bytes[n - 1]!)).concat([steady, steady, steady]).join(' | ');
    /** The steady-state cell: one number (bold) or a min–max range over 1,000 … 1,300 pushes (more than four block periods). */
    const steadyCell = (bytes: number[]): string => {
      const late = bytes.slice(999);
      const [min, max] = [Math.min(...late), Math.max(...late)];
      return min === max ? `**${comma(min)}**` : `${comma(min)}–${comma(max)}`;
    };
    const rows: [string, AttentionOptions][] = [
      ['float32', { dim: 64, window: 256, sinks: 4 }],
      ['float64', { dim: 64, window: 256, sinks: 4, precision: 'float64' }],
      ['int8 (precision float32)', { dim: 64, window: 256, sinks: 4, cacheDtype: 'int8' }],
      ['int8 (precision float64)', { dim: 64, window: 256, sinks: 4, precision: 'float64', cacheDtype: 'int8' }],
    ];
    for (const [name, options] of rows) {
      const bytes = bytesOverTime(options, 1300);
      expect(page).toContain(`| ${name} | ${cells(bytes, steadyCell(bytes))} |`);
    }
    // A pushMany prompt leaves at most the cache's two spare blocks more.
    expect(page).toContain('may leave one or two more free blocks, 32,768 bytes each at float32 here');
    for (const prompt of [500, 700, 1000]) {
      const attn = createAttention({ dim: 64, window: 256, sinks: 4 });
      attn.pushMany(Array.from({ length: prompt }, (_, t) => x(t)));
      const after = [attn.stats().bytes];
      for (let t = prompt; t < prompt + 200; t++) after.push((attn.push(x(t)), attn.stats().bytes));
      for (const bytes of after) expect([196_608, 229_376, 262_144], `after a prompt of ${prompt}`).toContain(bytes);
      attn.dispose();
    }
    // Without a window: one 32,768-byte block per 64 tokens, measured up to 1,000, the formula beyond.
    const unbounded = bytesOverTime({ dim: 64 }, 1000);
    for (const n of [1, 64, 256, 1000]) expect(unbounded[n - 1]).toBe(Math.ceil(n / 64) * 32768);
    const formula = [1, 64, 256, 1000, 10_000, 100_000].map((n) => comma(Math.ceil(n / 64) * 32768)).join(' | ');
    expect(page).toContain(`| *no window, float32* | ${formula} |`);
  });

  it('the block-size table and the look-ahead figure', () => {
    for (const blockSize of [16, 64, 256]) {
      const attn = createAttention({ dim: 64, window: 256, sinks: 4, blockSize });
      for (let t = 0; t < 1000; t++) attn.push(x(t));
      const { blocks, bytes } = attn.stats();
      expect(page).toMatch(new RegExp(`\\| ${blockSize}( \\(default\\))? \\| ${blocks} \\| ${comma(bytes)} \\|`));
    }
    const ahead = createAttention({ dim: 64, window: 256, sinks: 4, lookahead: 4 });
    for (let t = 0; t < 1000; t++) ahead.push(x(t));
    expect(page).toContain(`${comma(ahead.stats().bytes)} bytes at 1,000`);
  });

  it('how far truncate reaches back with a window: n_min = length − L − R − ((length − 2L − R − W + 1) mod blockSize)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 20 }),
        (window, blockSize, lookahead, sinks, retain, extra) => {
          fc.pre(window + lookahead > 1);
          const length = window + 2 * lookahead + retain + sinks + 2 * blockSize + extra;
          const options: AttentionOptions = { dim: 1, window, blockSize, lookahead, sinks, retain };
          const fed = (): ReturnType<typeof createAttention> => {
            const attn = createAttention(options);
            for (let t = 0; t < length; t++) attn.push([t % 3]);
            return attn;
          };
          const nMin = length - lookahead - retain - ((length - 2 * lookahead - retain - window + 1) % blockSize);
          fed().truncate(nMin);
          if (nMin > 0) expect(() => fed().truncate(nMin - 1)).toThrow(expect.objectContaining({ code: 'EVICTED' }));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('docs/guides/models.md', () => {
  /**
   * GPT-2's attention straight from its Conv1D tensors (`y = x·W + b`, W `[in, out]`): c_attn's
   * columns split into q, k, v, heads of E/H, a causal softmax of q·k/√(E/H), then c_proj. No
   * engine code and no transposition: the page's conversion is what is under test.
   */
  function gpt2Attention(xs: Float64Array[], cAttnW: Float64Array, cAttnB: Float64Array, cProjW: Float64Array, cProjB: Float64Array, heads: number): Float64Array[] {
    const E = cProjB.length;
    const D = E / heads;
    const conv1D = (x: Float64Array, w: Float64Array, b: Float64Array) =>
      Float64Array.from(b, (bias, o) => x.reduce((sum, xi, i) => sum + xi * w[i * b.length + o]!, bias));
    const qkv = xs.map((x) => conv1D(x, cAttnW, cAttnB));
    return qkv.map((row, t) => {
      const merged = new Float64Array(E);
      for (let h = 0; h < heads; h++) {
        const scores = qkv.slice(0, t + 1).map((other) => {
          let s = 0;
          for (let c = 0; c < D; c++) s += row[h * D + c]! * other[E + h * D + c]!;
          return s / Math.sqrt(D);
        });
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const total = e.reduce((a, b) => a + b, 0);
        e.forEach((ej, j) => {
          for (let c = 0; c < D; c++) merged[h * D + c]! += (ej / total) * qkv[j]![2 * E + h * D + c]!;
        });
      }
      return conv1D(merged, cProjW, cProjB);
    });
  }

  it("the GPT-2 example's layer is GPT-2's attention computed from the Conv1D tensors, and prints what its comment shows", async () => {
    const code = codeBlock(read('docs/guides/models.md'), 'ts', 1);
    const printed = (await runBlock(code)) as number[][];
    // The page's stand-in tensors and inputs, as its block makes them.
    const E = 8;
    const numbers = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(0.7 * i + seed) / 3);
    const xs = [0, 1, 2].map((t) => Float64Array.from({ length: E }, (_, c) => Math.cos(t + 0.5 * c)));
    const expected = gpt2Attention(xs, numbers(E * 3 * E, 1), numbers(3 * E, 2), numbers(E * E, 3), numbers(E, 4), 2);
    expectClose(printed[0]!, expected[2]!, 1e-12);
    const shown = commentNumbers(code.split('\n').find((line) => line.includes('console.log('))!);
    expect(printed[0]!.map((v, c) => Number(v.toFixed(shown[c]!.decimals)))).toEqual(shown.map((e) => e.value));
  });
});

describe('docs/guides/models.md: gpt-oss', () => {
  /**
   * The stand-in layer of the page's gpt-oss block as Hugging Face's GptOssAttention computes it:
   * q, k, v = x·Wᵀ + b; rotate-half RoPE with cos and sin multiplied by YaRN's attention factor;
   * scores q·k/√headDim under the sliding-window mask (kv_idx > q_idx − window); the head's sink
   * concatenated as a last column, a softmax, that column dropped; o_proj. Only yarnRope's speeds
   * are the library's (test/yarn-rope.test.ts checks them against numpy).
   */
  function gptOssAttention(xs: Float64Array[], w: Record<string, Float64Array>, sinks: number[], window: number): Float64Array[] {
    const [E, H, G, D] = [16, 4, 2, 4];
    const { ropeFrequencies, attentionFactor } = yarnRope({ ropeDim: D, ropeBase: 150000, factor: 32, originalMaxPositionEmbeddings: 4096, truncate: false });
    const linear = (x: Float64Array, m: Float64Array, b: Float64Array) => Float64Array.from(b, (bias, r) => x.reduce((s, xc, c) => s + m[r * x.length + c]! * xc, bias));
    const rope = (u: Float64Array, p: number) =>
      Float64Array.from(u, (_, c) => {
        const m = c % (D / 2);
        const [cos, sin] = [Math.cos(p * ropeFrequencies[m]!) * attentionFactor, Math.sin(p * ropeFrequencies[m]!) * attentionFactor];
        return c < D / 2 ? u[c]! * cos - u[c + D / 2]! * sin : u[c]! * cos + u[c - D / 2]! * sin;
      });
    const q = xs.map((x) => linear(x, w['wq']!, w['bq']!));
    const k = xs.map((x) => linear(x, w['wk']!, w['bk']!));
    const v = xs.map((x) => linear(x, w['wv']!, w['bv']!));
    return xs.map((_, i) => {
      const merged = new Float64Array(H * D);
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / G));
        const keys = xs.map((_, j) => j).filter((j) => j <= i && j > i - window);
        const qh = rope(q[i]!.subarray(h * D, (h + 1) * D), i);
        const logits = keys.map((j) => rope(k[j]!.subarray(g * D, (g + 1) * D), j).reduce((s, kc, c) => s + kc * qh[c]!, 0) / Math.sqrt(D));
        logits.push(sinks[h]!);
        const max = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - max));
        const total = e.reduce((a, b) => a + b, 0);
        keys.forEach((j, n) => {
          for (let c = 0; c < D; c++) merged[h * D + c]! += (e[n]! / total) * v[j]![g * D + c]!;
        });
      }
      return linear(merged, w['wo']!, w['bo']!).subarray(0, E);
    });
  }

  it("the gpt-oss example's layer is Hugging Face's gpt-oss attention of the same stand-ins, and prints what its comment shows", async () => {
    const code = codeBlock(read('docs/guides/models.md'), 'ts', 2);
    const printed = (await runBlock(code)) as number[][];
    const numbers = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(0.9 * i + seed) / 2);
    const w = { wq: numbers(16 * 16, 1), wk: numbers(8 * 16, 2), wv: numbers(8 * 16, 3), wo: numbers(16 * 16, 4), bq: numbers(16, 5), bk: numbers(8, 6), bv: numbers(8, 7), bo: numbers(16, 8) };
    const xs = [0, 1, 2, 3].map((t) => Float64Array.from({ length: 16 }, (_, c) => Math.cos(t + 0.3 * c)));
    const expected = gptOssAttention(xs, w, [0.5, -1, 2, 0], 2);
    expectClose(printed[0]!, expected[3]!.subarray(0, 4), 1e-12);
    const shown = commentNumbers(code.split('\n').find((line) => line.includes('console.log('))!);
    expect(printed[0]!.map((v, c) => Number(v.toFixed(shown[c]!.decimals)))).toEqual(shown.map((e) => e.value));
  });
});

describe('docs/snapshots.md', () => {
  const page = read('docs/snapshots.md');
  const tableNames = [...page.matchAll(/^\| `([\w.]+)`(?:, `([\w.]+)`)? \| (?:I32|I8|F32|float) \|/gm)].flatMap((m) => [m[1]!, m[2]].filter((s): s is string => s !== undefined));

  it('the tensor table lists exactly the tensors snapshots contain', () => {
    const weights = (rows: number, cols: number): number[] => Array.from({ length: rows * cols }, (_, i) => Math.sin(i));
    const configs: AttentionOptions[] = [
      {
        dim: 4,
        heads: 2,
        kvHeads: 1,
        weights: { wq: weights(4, 4), wk: weights(2, 4), wv: weights(2, 4), wo: weights(4, 4), bq: weights(1, 4), bk: weights(1, 2), bv: weights(1, 2), bo: weights(1, 4) },
        lookahead: 1,
        window: 3,
        sinks: 1,
        blockSize: 2,
      },
      { dim: 4, cacheDtype: 'int8', blockSize: 2 },
      // The float keys kept for exact rollbacks.
      { dim: 4, cacheDtype: 'int8', blockSize: 2, retain: 3 },
    ];
    const written = new Set<string>();
    for (const options of configs) {
      const attn = createAttention(options);
      for (let t = 0; t < 7; t++) attn.push([t, 1, -t, 0.5]);
      for (const name of decodeSafetensors(attn.snapshot()).tensors.keys()) written.add(name);
    }
    // An int8 block filled again after a truncate into it: its floor scales.
    const refilled = createAttention({ dim: 4, cacheDtype: 'int8', blockSize: 3 });
    for (let t = 0; t < 6; t++) refilled.push([t, 1, -t, 0.5]);
    refilled.truncate(4);
    refilled.push([1, 1, 1, 1]);
    for (const name of decodeSafetensors(refilled.snapshot()).tensors.keys()) written.add(name);
    expect([...written].sort()).toEqual([...tableNames].sort());
  });

  it('the metadata table lists exactly the keys a snapshot and a stack snapshot carry', () => {
    const keys = [...page.matchAll(/^\| `(\w+)` \| /gm)].map((m) => m[1]!).filter((k) => !tableNames.includes(k));
    const attn = createAttention({ dim: 2 });
    const single = Object.keys(decodeSafetensors(attn.snapshot()).metadata);
    const w = [1, 0, 0, 1];
    const withoutWeights = Object.keys(decodeSafetensors(createAttention({ dim: 2, weights: { wq: w, wk: w, wv: w } }).snapshot({ weights: false })).metadata);
    expect([...new Set([...single, ...withoutWeights, 'layers'])].sort()).toEqual([...keys].sort());
  });
});
