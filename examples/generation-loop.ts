// A tiny 2-layer decoder, seeded so every run is the same, decoding text three ways. Its caches are
// one AttentionStack: an engine per layer, forked, truncated and disposed as one.
//
// 1. Greedy, token by token with `generate` from attnstream/rx, checked against recomputing the
//    whole prefix with batchAttention at every step: the cache must change nothing.
// 2. Beam search: every surviving continuation gets its own fork of the stack (sharing the prefix
//    copy-on-write), and a branch none of whose continuations survive is disposed.
// 3. Speculative decoding: a cheap draft (the same model cut after its first layer) proposes k
//    tokens, the full model checks them in one pass, and `truncate` drops the rejected tokens' keys
//    and values — after which the stack goes on exactly as if it had never seen them.
//
// The model: token embedding → (RMSNorm → attention with projections and RoPE → residual → RMSNorm
// → MLP → residual) per layer → RMSNorm → unembedding → logits.
//
//   npx tsx examples/generation-loop.ts
import { pathToFileURL } from 'node:url';
import { defer, finalize, map } from 'rxjs';
import type { Observable } from 'rxjs';
import { batchAttention, createAttentionStack, pushEach } from '../src/index.js';
import type { AttentionOptions, AttentionStack, AttentionStep, Vector } from '../src/index.js';
import { generate } from '../src/rx/index.js';
import type { GenerationEngine } from '../src/rx/index.js';
import { mulberry32 } from './seeded-random.js';

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

/** Makes the stack of caches a decoder runs on: the only place engines are created, so it is the one to swap. */
export type DecoderStackFactory = (decoder: Decoder) => AttentionStack;

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

/** One engine per layer, from each layer's attention options, managed as one stack. */
export const createDecoderStack: DecoderStackFactory = (decoder) =>
  createAttentionStack({ layers: decoder.layers.map((layer) => layer.attention) });

/**
 * A cheaper draft of `decoder` for speculative decoding: the same weights cut after the first
 * `layers` layers (an early exit), so it costs a fraction of the model and often agrees with it.
 */
export function draftOf(decoder: Decoder, layers = 1): Decoder {
  return { ...decoder, config: { ...decoder.config, layers }, layers: decoder.layers.slice(0, layers) };
}

/**
 * The decoder with its caches: tokens go through every layer, each layer's engine caching their
 * keys and values, and come out as next-token logits.
 */
export class CachedDecoder implements GenerationEngine {
  constructor(
    readonly decoder: Decoder,
    readonly stack: AttentionStack,
  ) {}

  /** One embedding through every layer, for `generate`; the step's output is the next-token logits. */
  push(x: Vector): AttentionStep[] {
    const [output] = this.forward([Float64Array.from(x)]);
    return [{ index: this.stack.length - 1, output: output! }];
  }

  /** Tokens through every layer in one pass (a `pushMany` per layer): one row of logits per token. */
  pushTokens(tokens: readonly number[]): Float64Array[] {
    return this.forward(tokens.map((token) => embeddingOf(this.decoder, token)));
  }

  /** The same model on a fork of the stack: the two go on independently, sharing what they held. */
  fork(): CachedDecoder {
    return new CachedDecoder(this.decoder, this.stack.fork());
  }

  private forward(inputs: Float64Array[]): Float64Array[] {
    let hs = inputs;
    this.decoder.layers.forEach((layer, l) => {
      const steps = this.stack.layer(l).pushMany(hs.map(rmsNorm));
      hs = hs.map((h, i) => afterAttention(layer, h, steps[i]!.output));
    });
    return hs.map((h) => logits(this.decoder, h));
  }
}

/**
 * Generates `count` tokens after `prompt` (token ids, at least one) with the cache: the prompt but
 * its last token is pushed first (prefill), then `generate` feeds each greedy pick back in. Every
 * subscription gets a fresh stack from `makeStack` and disposes it at teardown.
 */
export function generateTokens(
  decoder: Decoder,
  prompt: readonly number[],
  count: number,
  makeStack: DecoderStackFactory = createDecoderStack,
): Observable<GeneratedToken> {
  return defer(() => {
    const model = new CachedDecoder(decoder, makeStack(decoder));
    model.pushTokens(prompt.slice(0, -1));
    return generate({
      engine: model,
      first: embeddingOf(decoder, prompt[prompt.length - 1]!),
      next: (step) => embeddingOf(decoder, greedy(step.output)),
      maxTokens: count,
    }).pipe(
      map((step) => ({ token: greedy(step.output), logits: Float64Array.from(step.output) })),
      finalize(() => model.stack.dispose()),
    );
  });
}

/** Next-token logits after `tokens` without a cache: the whole sequence through every layer with batchAttention. */
export function logitsWithoutCache(decoder: Decoder, tokens: readonly number[]): Float64Array {
  let hs = tokens.map((token) => embeddingOf(decoder, token));
  for (const layer of decoder.layers) {
    const steps = batchAttention(hs.map(rmsNorm), layer.attention);
    hs = hs.map((h, i) => afterAttention(layer, h, steps[i]!.output));
  }
  return logits(decoder, hs[hs.length - 1]!);
}

/** The plain twin of {@link generateTokens}: for each new token, the whole sequence is recomputed. */
export function generateWithoutCache(decoder: Decoder, prompt: readonly number[], count: number): GeneratedToken[] {
  const tokens = [...prompt];
  const generated: GeneratedToken[] = [];
  for (let n = 0; n < count; n++) {
    const next = logitsWithoutCache(decoder, tokens);
    generated.push({ token: greedy(next), logits: next });
    tokens.push(greedy(next));
  }
  return generated;
}

/** One hypothesis of a beam search. */
export interface Beam {
  /** The tokens chosen after the prompt. */
  readonly tokens: readonly number[];
  /** The beam's log-probability: Σ log-softmax(logits)[token] over `tokens`, each from the logits it was chosen from. */
  readonly score: number;
  /** Next-token logits after the prompt and `tokens`. */
  readonly logits: Float64Array;
  /** The model on this beam's own stack, which holds the prompt and `tokens` in every layer. */
  readonly model: CachedDecoder;
}

export interface BeamSearchOptions {
  /** How many beams survive each step. */
  readonly width: number;
  /** How many tokens every beam gets. */
  readonly steps: number;
  readonly makeStack?: DecoderStackFactory;
  /** Called with each beam dropped because none of its continuations survived, once its stack is disposed. */
  readonly onPrune?: (beam: Beam) => void;
}

/**
 * Beam search. At each step every continuation of every beam is scored by log-probability; the
 * best `width` survive (ties go to the earlier beam, then the lower token id, so width 1 is greedy
 * decoding). Each survivor gets a fork of its parent's stack; every parent's stack is then disposed
 * (the parents live on in their children's shared blocks; one with no surviving child is pruned),
 * and the survivors' tokens go in together. Returns the beams, best first; their stacks are the
 * caller's to dispose.
 */
export function beamSearch(decoder: Decoder, prompt: readonly number[], options: BeamSearchOptions): Beam[] {
  const { width, steps, makeStack = createDecoderStack, onPrune } = options;
  const root = new CachedDecoder(decoder, makeStack(decoder));
  let beams: Beam[] = [{ tokens: [], score: 0, logits: root.pushTokens(prompt).at(-1)!, model: root }];
  for (let step = 0; step < steps; step++) {
    const candidates = beams.flatMap((beam, b) =>
      Array.from(logSoftmax(beam.logits), (logProbability, token) => ({ beam, b, token, score: beam.score + logProbability })),
    );
    candidates.sort((x, y) => y.score - x.score || x.b - y.b || x.token - y.token);
    const picked = candidates.slice(0, width);
    const models = picked.map(({ beam }) => beam.model.fork());
    // The parents go before the tokens do: a block only one survivor shares with its parent is then
    // written in place, not copied first (the cost of a fork's first write).
    for (const beam of beams) {
      beam.model.stack.dispose();
      if (!picked.some((p) => p.beam === beam)) onPrune?.(beam);
    }
    let rows: Float64Array[];
    try {
      rows = pushTokensTogether(models, picked.map(({ token }) => token));
    } catch (e) {
      // The parents are gone: the forks are the only holders left, so they go too.
      for (const model of models) model.stack.dispose();
      throw e;
    }
    beams = picked.map(({ beam, token, score }, i): Beam => ({ tokens: [...beam.tokens, token], score, logits: rows[i]!, model: models[i]! }));
  }
  return beams;
}

/**
 * One token into each model, all forks of one model (beams), layer by layer through `pushEach`:
 * for each, the next-token logits `model.pushTokens([token])` would give, bit for bit, with each
 * layer's projections made for all the tokens at once.
 */
export function pushTokensTogether(models: readonly CachedDecoder[], tokens: readonly number[]): Float64Array[] {
  const decoder = models[0]!.decoder;
  let hs = tokens.map((token) => embeddingOf(decoder, token));
  decoder.layers.forEach((layer, l) => {
    const steps = pushEach(
      models.map((model) => model.stack.layer(l)),
      hs.map(rmsNorm),
    );
    hs = hs.map((h, i) => afterAttention(layer, h, steps[i]![0]!.output));
  });
  return hs.map((h) => logits(decoder, h));
}

/** What one speculative step did. */
export interface SpeculativeStep {
  /** The draft's greedy proposals. */
  readonly drafted: readonly number[];
  /** How many proposals, from the first, the full model picks too. */
  readonly accepted: number;
  /** The tokens the step adds: the accepted proposals, then the full model's own next pick. */
  readonly tokens: readonly number[];
}

/**
 * One step of greedy speculative decoding. Both stacks hold the sequence but its last token,
 * `last`. The draft proposes `k` tokens one by one; the model pushes `last` and all k proposals in
 * one pass, getting k + 1 rows of logits, and accepts proposals while its own greedy pick agrees.
 * Then both stacks are truncated to the sequence's new length but one, dropping the rejected
 * proposals' keys and values in every layer. The model's pick after the accepted run (a correction,
 * or a bonus token when all were accepted) ends the step, so each step adds 1 to k + 1 tokens and
 * the text is exactly the model's greedy text.
 *
 * @throws AttentionError EVICTED when a windowed stack no longer holds what the rollback needs.
 */
export function speculativeStep(model: CachedDecoder, draft: CachedDecoder, last: number, k: number): SpeculativeStep {
  const start = model.stack.length;
  const drafted: number[] = [];
  // The draft pushes its last proposal too, so both stacks hold the same tokens and roll back alike.
  let draftLogits = draft.pushTokens([last])[0]!;
  for (let i = 0; i < k; i++) {
    drafted.push(greedy(draftLogits));
    draftLogits = draft.pushTokens([drafted[i]!])[0]!;
  }
  const rows = model.pushTokens([last, ...drafted]);
  let accepted = 0;
  while (accepted < k && greedy(rows[accepted]!) === drafted[accepted]) accepted++;
  const kept = start + 1 + accepted;
  model.stack.truncate(kept);
  draft.stack.truncate(kept);
  return { drafted, accepted, tokens: [...drafted.slice(0, accepted), greedy(rows[accepted]!)] };
}

export interface SpeculativeOptions {
  /** Proposals per step. Default 4. */
  readonly k?: number;
  /** The draft model. Default: `draftOf(decoder)`, the first layer alone. */
  readonly draft?: Decoder;
  readonly makeStack?: DecoderStackFactory;
}

/** Greedy generation of `count` tokens by speculative steps; the stacks are disposed at the end. */
export function generateSpeculatively(
  decoder: Decoder,
  prompt: readonly number[],
  count: number,
  options: SpeculativeOptions = {},
): { tokens: number[]; steps: SpeculativeStep[] } {
  const { k = 4, draft = draftOf(decoder), makeStack = createDecoderStack } = options;
  const model = new CachedDecoder(decoder, makeStack(decoder));
  const drafter = new CachedDecoder(draft, makeStack(draft));
  try {
    model.pushTokens(prompt.slice(0, -1));
    drafter.pushTokens(prompt.slice(0, -1));
    const tokens: number[] = [];
    const steps: SpeculativeStep[] = [];
    while (tokens.length < count) {
      // The step's own pick is one more token than it proposes: never propose past `count`.
      const step = speculativeStep(model, drafter, tokens.at(-1) ?? prompt[prompt.length - 1]!, Math.min(k, count - tokens.length - 1));
      steps.push(step);
      tokens.push(...step.tokens);
    }
    return { tokens, steps };
  } finally {
    model.stack.dispose();
    drafter.stack.dispose();
  }
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

/** log softmax(logits), shifted by the largest logit so no exp overflows. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let largest = -Infinity;
  for (let t = 0; t < logits.length; t++) largest = Math.max(largest, logits[t]!);
  let total = 0;
  for (let t = 0; t < logits.length; t++) total += Math.exp(logits[t]! - largest);
  const normalizer = largest + Math.log(total);
  return Float64Array.from(logits, (value) => value - normalizer);
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

/**
 * Speculative steps until one rejects a proposal; then the rolled-back stack and a fresh one fed
 * only the kept tokens both take the step's last token. Returns how many proposals were rolled back
 * and the largest difference between the two stacks' logits (0: the rejected tokens left no trace).
 */
function rollbackCheck(decoder: Decoder, prompt: readonly number[], k: number): { rolledBack: number; difference: number } {
  const model = new CachedDecoder(decoder, createDecoderStack(decoder));
  const draftDecoder = draftOf(decoder);
  const draft = new CachedDecoder(draftDecoder, createDecoderStack(draftDecoder));
  model.pushTokens(prompt.slice(0, -1));
  draft.pushTokens(prompt.slice(0, -1));
  const sequence = [...prompt];
  let step: SpeculativeStep;
  do {
    step = speculativeStep(model, draft, sequence.at(-1)!, k);
    sequence.push(...step.tokens);
  } while (step.accepted === k && sequence.length < 1000);
  const fresh = new CachedDecoder(decoder, createDecoderStack(decoder));
  fresh.pushTokens(sequence.slice(0, -1));
  const [after] = model.pushTokens([sequence.at(-1)!]);
  const [expected] = fresh.pushTokens([sequence.at(-1)!]);
  const difference = Math.max(...after!.map((value, v) => Math.abs(value - expected![v]!)));
  for (const m of [model, draft, fresh]) m.stack.dispose();
  return { rolledBack: k - step.accepted, difference };
}

/**
 * Decodes from a seeded model: greedy with and without the cache (and how far their logits ever
 * differed), beam search of width 3, and speculative decoding with a one-layer draft.
 */
export async function main(config: DecoderConfig = DEFAULT_CONFIG, promptText = '<s> the dog', count = 12) {
  const decoder = createDecoder(config);
  const prompt = promptText.split(' ').map((word) => config.vocabulary.indexOf(word));
  const words = (tokens: readonly number[]) => tokens.map((token) => config.vocabulary[token]!);

  const cached: GeneratedToken[] = [];
  await new Promise<void>((resolve, reject) => generateTokens(decoder, prompt, count).subscribe({ next: (t) => cached.push(t), error: reject, complete: resolve }));
  const recomputed = generateWithoutCache(decoder, prompt, count);
  let maxLogitDifference = 0;
  cached.forEach((t, n) => t.logits.forEach((value, v) => (maxLogitDifference = Math.max(maxLogitDifference, Math.abs(value - recomputed[n]!.logits[v]!)))));

  let pruned = 0;
  const beams = beamSearch(decoder, prompt, { width: 3, steps: count, onPrune: () => pruned++ });
  const beamResults = beams.map((beam) => ({ words: words(beam.tokens), score: beam.score }));
  // The greedy text's own log-probability, for comparison: beam search looks for a likelier one.
  const greedyScore = cached.reduce((sum, t) => sum + logSoftmax(t.logits)[t.token]!, 0);
  for (const beam of beams) beam.model.stack.dispose();

  const k = 4;
  const speculative = generateSpeculatively(decoder, prompt, count, { k });
  return {
    prompt: promptText,
    cached: words(cached.map((t) => t.token)),
    recomputed: words(recomputed.map((t) => t.token)),
    maxLogitDifference,
    beam: { width: 3, pruned, beams: beamResults, greedyScore },
    speculative: {
      k,
      words: words(speculative.tokens),
      steps: speculative.steps.length,
      proposed: speculative.steps.reduce((n, s) => n + s.drafted.length, 0),
      accepted: speculative.steps.reduce((n, s) => n + s.accepted, 0),
      rollback: rollbackCheck(decoder, prompt, k),
    },
  };
}

/** main()'s result as the lines the example prints. */
export function report(result: Awaited<ReturnType<typeof main>>): string[] {
  const { beam, speculative } = result;
  return [
    `prompt       ${result.prompt}`,
    `with cache   ${result.cached.join(' ')}`,
    `recomputed   ${result.recomputed.join(' ')}`,
    `same tokens: ${result.cached.join(' ') === result.recomputed.join(' ')}; largest logit difference ${result.maxLogitDifference < 1e-12 ? 'below 1e-12' : result.maxLogitDifference.toExponential(2)}`,
    '',
    `beam search, width ${beam.width}: ${beam.pruned} branches pruned`,
    ...beam.beams.map((b) => `  ${b.score.toFixed(3).padStart(7)}  ${b.words.join(' ')}`),
    `  ${beam.greedyScore.toFixed(3).padStart(7)}  (the greedy text)`,
    '',
    `speculative  ${speculative.words.join(' ')}`,
    `same as greedy: ${speculative.words.join(' ') === result.cached.join(' ')}; ${speculative.steps} steps, ${speculative.accepted} of ${speculative.proposed} proposals accepted (k = ${speculative.k}, draft: the first layer alone)`,
    `rolled back ${speculative.rollback.rolledBack} rejected tokens; the stack then continues as a fresh one fed only the kept tokens: largest logit difference ${speculative.rollback.difference}`,
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(report(await main()).join('\n'));
}
