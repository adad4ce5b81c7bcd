import { createAttention, pushEach } from '../../src/index.js';
import type { Attention } from '../../src/index.js';
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
  /** µs a step of the profile's beams (forks of the n tokens) taking a token each: one push per beam, and pushEach. */
  readonly beamsAlone: Summary;
  readonly beamsEach: Summary;
  /** beamsAlone ÷ beamsEach, per round. */
  readonly beamsRatio: Summary;
  /** Relative max difference between the two beam paths' last outputs. */
  readonly beamsError: number;
}

export interface LongPromptResult {
  readonly heads: number;
  readonly headDim: number;
  readonly chunk: number;
  readonly beams: number;
  readonly rows: LongPromptRow[];
}

/**
 * A prompt over a long cache (a chat's next message): an engine with all four projections holds
 * `context` tokens, then takes a `chunk`-token prompt by pushMany or by one push per token, and is
 * truncated back after each run; then `beams` forks of it take a token each, by pushEach or by one
 * push per beam. Interleaved runs, µs per token (a prompt) and per step (the beams).
 */
export function runLongPrompt(profile: Profile, progress: Progress): LongPromptResult {
  const { heads, headDim, contexts, chunk, beams, rounds } = profile.longPrompt;
  progress.plan(4 * rounds * contexts.length);
  const rows = contexts.map((context) => longPromptRow(heads, headDim, context, chunk, beams, rounds, progress));
  return { heads, headDim, chunk, beams, rows };
}

function longPromptRow(heads: number, headDim: number, context: number, chunk: number, beams: number, rounds: number, progress: Progress): LongPromptRow {
  const options = projectedOptions(heads, headDim, true);
  const xs = embeddings(context + chunk, options.dim);
  const engine = createAttention(options);
  progress.status(`long prompt · caching ${context} tokens`);
  for (let t = 0; t < context; t += 1024) engine.pushMany(xs.slice(t, Math.min(context, t + 1024)));
  const prompt = xs.slice(context);
  let lastSingle: ArrayLike<number> = [];
  let lastMany: ArrayLike<number> = [];
  // A timed run, then `engines` back to the n tokens outside the clock.
  const run = (engines: readonly Attention[], take: () => void) => () => {
    const s = timed(take);
    engines.forEach((e) => e.truncate(context));
    return s;
  };
  const seconds = interleave(
    [
      { id: 'single', run: run([engine], () => prompt.forEach((x) => (lastSingle = engine.push(x)[0]!.output))) },
      { id: 'many', run: run([engine], () => (lastMany = engine.pushMany(prompt).at(-1)!.output)) },
    ],
    rounds,
    (id) => progress.tick(`long prompt: ${chunk} tokens after ${context} · ${id === 'many' ? 'pushMany' : 'push'}`),
  );
  // The beams: forks of the n tokens (sharing their blocks), each taking its own token.
  const forks = Array.from({ length: beams }, () => engine.fork());
  const tokens = xs.slice(context, context + beams);
  let lastAlone: ArrayLike<number> = [];
  let lastEach: ArrayLike<number> = [];
  const beamSeconds = interleave(
    [
      { id: 'alone', run: run(forks, () => forks.forEach((fork, b) => (lastAlone = fork.push(tokens[b]!)[0]!.output))) },
      { id: 'each', run: run(forks, () => (lastEach = pushEach(forks, tokens).at(-1)![0]!.output)) },
    ],
    rounds,
    (id) => progress.tick(`long prompt: ${beams} beams after ${context} · ${id === 'each' ? 'pushEach' : 'push per beam'}`),
  );
  forks.forEach((fork) => fork.dispose());
  engine.dispose();
  const perToken = (id: string) => summarize(seconds.get(id)!.map((s) => (s / chunk) * 1e6));
  const perStep = (id: string) => summarize(beamSeconds.get(id)!.map((s) => s * 1e6));
  return {
    context,
    cacheMB: (8 * options.dim * context) / 2 ** 20,
    single: perToken('single'),
    many: perToken('many'),
    ratio: pairedRatios(seconds.get('single')!, seconds.get('many')!),
    error: relativeError(lastMany, lastSingle),
    beamsAlone: perStep('alone'),
    beamsEach: perStep('each'),
    beamsRatio: pairedRatios(beamSeconds.get('alone')!, beamSeconds.get('each')!),
    beamsError: relativeError(lastEach, lastAlone),
  };
}
