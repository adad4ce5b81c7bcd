// Streams the same tokens through an engine on one thread and one on a pool of two (the page and a
// Web Worker), and reports on <body data-result> whether every step agreed bit for bit.
import { createAttention, readSafetensors, restoreAttention } from '../../../src/index.js';
import type { AttentionStep } from '../../../src/index.js';
import { createThreadPool } from '../../../src/threads/browser.js';

const bits = (step: AttentionStep): string =>
  JSON.stringify([Array.from(new Uint32Array(new Float32Array(step.output).buffer)), step.weights?.map((w) => Array.from(w))]);

async function run(): Promise<object> {
  const pool = await createThreadPool(2);
  // Past 1,024 keys each head is cut into stretches: the shares then split heads as well.
  const options = { dim: 16, heads: 2, positions: 'alibi', withWeights: true } as const;
  const one = createAttention(options);
  const split = createAttention({ ...options, threads: pool });
  let steps = 0;
  let same = true;
  for (let t = 0; t < 1400; t++) {
    const x = Array.from({ length: 16 }, (_, c) => Math.sin(0.37 * t + 1.3 * c));
    const [a] = one.push(x);
    const [b] = split.push(x);
    same &&= bits(a!) === bits(b!);
    steps++;
  }
  const halves = halvesSame(pool, 'bfloat16') && halvesSame(pool, 'float16');
  const threads = pool.threads;
  const closed = pool.closed;
  await pool.close();
  return { isolated: crossOriginIsolated, threads, closed, steps, same, shared: fromSharedMemory(one), halves };
}

/**
 * Whether engines with 16-bit weights (`dtype`), on one thread and on the pool (dim 256: a token's
 * projections are split across it), give a float32 engine's steps over their rounded weights bit
 * for bit, a prompt (the prompt kernel's twin) and single tokens (the single-token twin's) alike.
 */
function halvesSame(pool: Awaited<ReturnType<typeof createThreadPool>>, dtype: 'bfloat16' | 'float16'): boolean {
  const dim = 256;
  // Down to 1e-6 in magnitude: binary16's subnormals too.
  const matrix = (seed: number) => Array.from({ length: dim * dim }, (_, i) => (Math.sin(seed + 0.7 * i) / 16) ** 3);
  const options = { dim, heads: 4, weights: { wq: matrix(1), wk: matrix(2), wv: matrix(3), wo: matrix(4) }, weightsDtype: dtype };
  const half = createAttention(options);
  const split = createAttention({ ...options, threads: pool });
  const w = half.options.weights!;
  const rounded = createAttention({ dim, heads: 4, weights: { wq: w.wq!, wk: w.wk!, wv: w.wv!, wo: w.wo! } });
  const token = (t: number) => Array.from({ length: dim }, (_, c) => Math.cos(0.11 * t + 0.9 * c));
  const prompt = Array.from({ length: 9 }, (_, t) => token(t));
  const engines = [half, split, rounded];
  const outputs = engines.map((e) => e.pushMany(prompt).map(bits).join());
  for (let t = 9; t < 30; t++) engines.forEach((e, i) => (outputs[i] += bits(e.push(token(t))[0]!)));
  return outputs[0] === outputs[2] && outputs[1] === outputs[2];
}

/**
 * Whether a snapshot in shared memory (as workers share one) restores and opens as its copy does:
 * Chromium's TextDecoder refuses a view of a SharedArrayBuffer, which refused every such file as
 * corrupt (an isolation hunt).
 */
function fromSharedMemory(engine: ReturnType<typeof createAttention>): boolean {
  const bytes = engine.snapshot();
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
  shared.set(bytes);
  const x = [0.25, -0.5, 1, 0, 0.5, 0.5, 0, 1, 1, 0, -1, 0.25, 0, 0, 1, 1];
  const again = bits(restoreAttention(shared).push(x)[0]!) === bits(restoreAttention(bytes).push(x)[0]!);
  return again && readSafetensors(shared).tensors.length === readSafetensors(bytes).tensors.length;
}

run().then(
  (result) => (document.body.dataset.result = JSON.stringify(result)),
  (error: unknown) => (document.body.dataset.result = JSON.stringify({ error: String(error) })),
);
