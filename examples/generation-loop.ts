// A tiny 2-layer decoder, seeded so every run is the same, generating text token by token with
// `generate` from attnstream/rx: token embedding → (RMSNorm → attention with projections and RoPE →
// residual → RMSNorm → MLP → residual) per layer → logits → greedy pick → next token.
//
// Each layer has its own engine, so each token costs one attention row per layer instead of the
// whole prefix. `generateWithoutCache` recomputes the whole prefix at every step with
// batchAttention; main() checks that both pick the same tokens, the guarantee the tests prove.
//
//   npx tsx examples/generation-loop.ts
import { pathToFileURL } from 'node:url';
import { defer, finalize, map } from 'rxjs';
import type { Observable } from 'rxjs';
import { batchAttention, createAttention } from '../src/index.js';
import type { Attention, AttentionOptions, AttentionStep, Vector } from '../src/index.js';
import { generate } from '../src/rx/index.js';
import type { GenerationEngine } from '../src/rx/index.js';
// The project's deterministic PRNG, shared with the tests.
import { mulberry32 } from '../test/support/engine-arbitraries.js';

/** The shape of the model; every weight is drawn from `seed`. */
export interface DecoderConfig {
  readonly vocabulary: readonly string[];
  /** Model width: the size of an embedding and of the residual stream. */
  readonly dim: number;
  readonly heads: number;
  readonly kvHeads: number;
  /** Width of the MLP's hidden layer. */
  readonly hidden: number;
  readonly layers: number;
  /** A sliding window for every layer's attention. Default: none. */
  readonly window?: number;
  readonly seed: number;
}

/** One decoder block: its attention (options with projections) and its MLP. */
export interface DecoderLayer {
  readonly attention: AttentionOptions;
  /** hidden × dim, row-major. */
  readonly up: Float64Array;
  /** dim × hidden, row-major. */
  readonly down: Float64Array;
}

/** A decoder's weights. */
export interface Decoder {
  readonly config: DecoderConfig;
  /** vocabulary × dim: row t is token t's embedding. */
  readonly embedding: Float64Array;
  readonly layers: readonly DecoderLayer[];
  /** vocabulary × dim: logits = unembedding · RMSNorm(h). */
  readonly unembedding: Float64Array;
}

/** One generated token and the logits it was picked from. */
export interface GeneratedToken {
  readonly token: number;
  readonly logits: Float64Array;
}

/** Makes one attention engine per layer: the only place engines are created, so it is the one to swap. */
export type LayerEngineFactory = (decoder: Decoder) => readonly Attention[];

export const VOCABULARY = [
  '<s>', '.', 'the', 'a', 'dog', 'cat', 'bird', 'park', 'tree', 'ran', 'sat', 'sang', 'saw', 'around',
  'in', 'under', 'it', 'was', 'happy', 'tired', 'because', 'and',
];

export const DEFAULT_CONFIG: DecoderConfig = { vocabulary: VOCABULARY, dim: 16, heads: 4, kvHeads: 2, hidden: 32, layers: 2, seed: 7 };

/** Draws every weight of a decoder from `config.seed`: the same config gives the same model. */
export function createDecoder(config: DecoderConfig): Decoder {
  const random = mulberry32(config.seed);
  const { dim, heads, kvHeads, hidden } = config;
  const headDim = dim / heads;
  // Uniform with variance 1/cols, so every layer keeps activations near unit size.
  const matrix = (rows: number, cols: number, gain = 1): Float64Array =>
    Float64Array.from({ length: rows * cols }, () => gain * Math.sqrt(3 / cols) * (2 * random() - 1));
  const vocabulary = config.vocabulary.length;
  return {
    config,
    embedding: matrix(vocabulary, dim, Math.sqrt(dim)),
    layers: Array.from({ length: config.layers }, () => ({
      attention: {
        dim,
        heads,
        kvHeads,
        precision: 'float64',
        positions: 'rope',
        ...(config.window === undefined ? {} : { window: config.window }),
        weights: { wq: matrix(heads * headDim, dim), wk: matrix(kvHeads * headDim, dim), wv: matrix(kvHeads * headDim, dim), wo: matrix(dim, heads * headDim) },
      },
      up: matrix(hidden, dim),
      down: matrix(dim, hidden),
    })),
    unembedding: matrix(vocabulary, dim, 4),
  };
}

/** One fresh engine per layer, from the layer's attention options. */
export const createLayerEngines: LayerEngineFactory = (decoder) => decoder.layers.map((layer) => createAttention(layer.attention));

/**
 * The decoder with a KV cache: each push runs one token through every layer, each layer's engine
 * caching that token's keys and values, and returns the next-token logits as the step's output.
 */
export class CachedDecoder implements GenerationEngine {
  constructor(
    readonly decoder: Decoder,
    readonly engines: readonly Attention[],
  ) {}

  push(x: Vector): AttentionStep[] {
    let h: Float64Array = Float64Array.from(x);
    let index = -1;
    this.decoder.layers.forEach((layer, l) => {
      const [step] = this.engines[l]!.push(rmsNorm(h));
      index = step!.index;
      h = afterAttention(layer, h, step!.output);
    });
    return [{ index, output: logits(this.decoder, h) }];
  }
}

/**
 * Generates `count` tokens after `prompt` (token ids, at least one) with the cache: the prompt but
 * its last token is pushed first (prefill), then `generate` feeds each greedy pick back in. Every
 * subscription gets fresh engines from `makeEngines` and disposes them at teardown.
 */
export function generateTokens(
  decoder: Decoder,
  prompt: readonly number[],
  count: number,
  makeEngines: LayerEngineFactory = createLayerEngines,
): Observable<GeneratedToken> {
  return defer(() => {
    const engines = makeEngines(decoder);
    const cached = new CachedDecoder(decoder, engines);
    for (const token of prompt.slice(0, -1)) cached.push(embeddingOf(decoder, token));
    return generate({
      engine: cached,
      first: embeddingOf(decoder, prompt[prompt.length - 1]!),
      next: (step) => embeddingOf(decoder, greedy(step.output)),
      maxTokens: count,
    }).pipe(
      map((step) => ({ token: greedy(step.output), logits: Float64Array.from(step.output) })),
      finalize(() => engines.forEach((engine) => engine.dispose())),
    );
  });
}

/** The plain twin: for each new token, the whole sequence goes through every layer again, no cache. */
export function generateWithoutCache(decoder: Decoder, prompt: readonly number[], count: number): GeneratedToken[] {
  const tokens = [...prompt];
  const generated: GeneratedToken[] = [];
  for (let n = 0; n < count; n++) {
    let hs = tokens.map((token) => embeddingOf(decoder, token));
    for (const layer of decoder.layers) {
      const steps = batchAttention(hs.map(rmsNorm), layer.attention);
      hs = hs.map((h, i) => afterAttention(layer, h, steps[i]!.output));
    }
    const next = logits(decoder, hs[hs.length - 1]!);
    generated.push({ token: greedy(next), logits: next });
    tokens.push(greedy(next));
  }
  return generated;
}

/** Row `token` of the embedding matrix. */
export function embeddingOf(decoder: Decoder, token: number): Float64Array {
  const { dim } = decoder.config;
  return decoder.embedding.slice(token * dim, (token + 1) * dim);
}

/** The index of the largest logit; the lowest index wins a tie. */
export function greedy(logits: ArrayLike<number>): number {
  let best = 0;
  for (let t = 1; t < logits.length; t++) if (logits[t]! > logits[best]!) best = t;
  return best;
}

/** Residual stream after a block: h + attention, then + MLP(RMSNorm(h)). */
function afterAttention(layer: DecoderLayer, h: Float64Array, attention: ArrayLike<number>): Float64Array {
  const mixed = h.map((value, c) => value + attention[c]!);
  const hidden = linear(layer.up, rmsNorm(mixed)).map((value) => Math.max(0, value));
  const mlp = linear(layer.down, hidden);
  return mixed.map((value, c) => value + mlp[c]!);
}

function logits(decoder: Decoder, h: Float64Array): Float64Array {
  return linear(decoder.unembedding, rmsNorm(h));
}

/** x / rms(x), without a learned gain. */
function rmsNorm(x: Float64Array): Float64Array {
  let squares = 0;
  for (const value of x) squares += value * value;
  const scale = 1 / Math.sqrt(squares / x.length + 1e-6);
  return x.map((value) => value * scale);
}

/** W·x for a row-major W of (W.length / x.length) rows. */
function linear(w: Float64Array, x: Float64Array): Float64Array {
  const y = new Float64Array(w.length / x.length);
  for (let r = 0; r < y.length; r++) {
    let sum = 0;
    for (let c = 0; c < x.length; c++) sum += w[r * x.length + c]! * x[c]!;
    y[r] = sum;
  }
  return y;
}

/** Generates from a seeded model with and without the cache; returns both texts and how far the logits ever differed. */
export async function main(config: DecoderConfig = DEFAULT_CONFIG, promptText = '<s> the dog', count = 12) {
  const decoder = createDecoder(config);
  const prompt = promptText.split(' ').map((word) => config.vocabulary.indexOf(word));
  const cached: GeneratedToken[] = [];
  await new Promise<void>((resolve, reject) => generateTokens(decoder, prompt, count).subscribe({ next: (t) => cached.push(t), error: reject, complete: resolve }));
  const recomputed = generateWithoutCache(decoder, prompt, count);
  let maxLogitDifference = 0;
  cached.forEach((t, n) => t.logits.forEach((value, v) => (maxLogitDifference = Math.max(maxLogitDifference, Math.abs(value - recomputed[n]!.logits[v]!)))));
  const words = (tokens: GeneratedToken[]) => tokens.map((t) => config.vocabulary[t.token]!);
  return { prompt: promptText, cached: words(cached), recomputed: words(recomputed), maxLogitDifference };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await main();
  console.log(`prompt      ${result.prompt}`);
  console.log(`with cache  ${result.cached.join(' ')}`);
  console.log(`recomputed  ${result.recomputed.join(' ')}`);
  console.log(`same tokens: ${result.cached.join(' ') === result.recomputed.join(' ')}; largest logit difference ${result.maxLogitDifference.toExponential(2)}`);
}
