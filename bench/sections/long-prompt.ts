import { createAttention } from '../../src/index.js';
import { embeddings } from '../data.js';
import { interleave, timed } from '../interleave.js';
import type { Profile } from '../profile.js';
import type { Progress } from '../progress.js';
import { pairedRatios, relativeError, summarize } from '../stats.js';
import type { Summary } from '../stats.js';
import { projectedOptions } from './prefill.js';

/** A chunk's cost after one context length. */
export interface LongPromptRow {
  /** Tokens cached before the chunk. */
  readonly context: number;
  /** MB of float32 keys and values the chunk's first query reads. */
  readonly cacheMB: number;
  /** µs per token. */
  readonly single: Summary;
  readonly many: Summary;
  /** single ÷ many, per round. */
  readonly ratio: Summary;
  /** Relative max difference between the two paths' last outputs. */
  readonly error: number;
}

export interface LongPromptResult {
  readonly heads: number;
  readonly headDim: number;
  readonly chunk: number;
  readonly rows: LongPromptRow[];
}

/**
 * A prompt over a long cache (a chat's next message): an engine with all four projections holds
 * `context` tokens, then takes a `chunk`-token prompt by pushMany or by one push per token, and is
 * truncated back after each run. Interleaved runs, µs per token.
 */
export function runLongPrompt(profile: Profile, progress: Progress): LongPromptResult {
  const { heads, headDim, contexts, chunk, rounds } = profile.longPrompt;
  progress.plan(2 * rounds * contexts.length);
  const rows = contexts.map((context) => longPromptRow(heads, headDim, context, chunk, rounds, progress));
  return { heads, headDim, chunk, rows };
}

function longPromptRow(heads: number, headDim: number, context: number, chunk: number, rounds: number, progress: Progress): LongPromptRow {
  const options = projectedOptions(heads, headDim, true);
  const xs = embeddings(context + chunk, options.dim);
  const engine = createAttention(options);
  progress.status(`long prompt · caching ${context} tokens`);
  for (let t = 0; t < context; t += 1024) engine.pushMany(xs.slice(t, Math.min(context, t + 1024)));
  const prompt = xs.slice(context);
  let lastSingle: ArrayLike<number> = [];
  let lastMany: ArrayLike<number> = [];
  const run = (take: () => void) => () => {
    const s = timed(take);
    engine.truncate(context);
    return s;
  };
  const seconds = interleave(
    [
      { id: 'single', run: run(() => prompt.forEach((x) => (lastSingle = engine.push(x)[0]!.output))) },
      { id: 'many', run: run(() => (lastMany = engine.pushMany(prompt).at(-1)!.output)) },
    ],
    rounds,
    (id) => progress.tick(`long prompt: ${chunk} tokens after ${context} · ${id === 'many' ? 'pushMany' : 'push'}`),
  );
  engine.dispose();
  const perToken = (id: string) => summarize(seconds.get(id)!.map((s) => (s / chunk) * 1e6));
  return {
    context,
    cacheMB: (8 * options.dim * context) / 2 ** 20,
    single: perToken('single'),
    many: perToken('many'),
    ratio: pairedRatios(seconds.get('single')!, seconds.get('many')!),
    error: relativeError(lastMany, lastSingle),
  };
}
