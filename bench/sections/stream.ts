import type { Implementations } from '../implementations.js';
import type { DecodeImplementation } from '../impls/decode-implementation.js';
import { settle } from '../interleave.js';
import type { Profile } from '../profile.js';
import type { Progress } from '../progress.js';
import { relativeError, summarize } from '../stats.js';
import type { Summary } from '../stats.js';
import { formatSeconds } from './grid.js';
import type { StepHistory } from './grid.js';

const ALWAYS = new Set(['attnstream', 'attnstream-js', 'attnstream-2t', 'c-1t']);
/** Tokens of the untimed stream each implementation runs before the timed ones. */
const WARM_UP_TOKENS = 256;

/** The row of an implementation whose stream threw: its message's first line. */
function failedRow(id: string, error: unknown): StreamRow {
  return { id, skipped: `failed: ${(error as Error).message.split('\n')[0]}` };
}

/** One implementation streaming the headline case: tokens per second over whole streams. */
export interface StreamRow {
  readonly id: string;
  readonly tokensPerSecond?: Summary;
  readonly runs?: number;
  readonly error?: number;
  readonly skipped?: string;
}

/**
 * The headline: H heads of D streaming `tokens` tokens from an empty cache, each appended
 * then attended over the whole prefix. Runs are interleaved across implementations; an
 * implementation predicted (from its grid steps) to take longer than the profile allows runs fewer
 * times, or (except attnstream's three variants and single-threaded C) is skipped with the prediction as the reason.
 */
export async function runStream(profile: Profile, impls: Implementations, history: StepHistory, progress: Progress): Promise<StreamRow[]> {
  const { heads, headDim, tokens, maxSeconds, rounds } = profile.stream;
  const rows = new Map<string, StreamRow>();
  const runs = new Map<string, number>();
  for (const impl of impls.list) {
    // Σ over t of a step at length t ≈ tokens steps at the mean length, plus the per-step floor.
    const mid = history.predict(impl.id, heads * headDim * (tokens / 2));
    const predicted = mid === null ? null : (mid * tokens) / 1e6;
    // attnstream (both kernels) and the C reference always run once: the targets are their ratios.
    if (predicted !== null && predicted > maxSeconds && !ALWAYS.has(impl.id)) {
      rows.set(impl.id, { id: impl.id, skipped: `~${formatSeconds(predicted)} per stream predicted; over the ${maxSeconds} s budget` });
    } else {
      runs.set(impl.id, predicted === null ? rounds : Math.max(1, Math.min(rounds, Math.floor(maxSeconds / 2 / predicted))));
    }
  }
  const live = impls.list.filter((impl) => runs.has(impl.id));
  progress.plan([...runs.values()].reduce((a, b) => a + b, 0));
  const seconds = new Map<string, number[]>();
  const outputs = new Map<string, ArrayLike<number>>();
  // One short untimed stream each first, as the grid warms up: the timed ones then measure compiled,
  // tiered-up code and memory already mapped, not a first run's start (up to 1.7x slower here).
  for (const impl of live) {
    progress.status(`stream · warm up ${impl.id}`);
    try {
      await impl.stream(heads, headDim, Math.min(tokens, WARM_UP_TOKENS));
    } catch (error) {
      rows.set(impl.id, failedRow(impl.id, error));
    }
  }
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < live.length; i++) {
      const impl: DecodeImplementation = live[(i + round) % live.length]!;
      if (round >= runs.get(impl.id)! || rows.has(impl.id)) continue;
      progress.status(`stream ${tokens} tokens · ${impl.id} (run ${round + 1}/${runs.get(impl.id)})`);
      await settle(profile.settleMs);
      try {
        const result = await impl.stream(heads, headDim, tokens);
        seconds.set(impl.id, [...(seconds.get(impl.id) ?? []), result.seconds]);
        outputs.set(impl.id, result.output);
      } catch (error) {
        rows.set(impl.id, failedRow(impl.id, error));
      }
      progress.tick('stream');
    }
  }
  const reference = outputs.get('attnstream');
  for (const impl of live) {
    if (rows.has(impl.id)) continue;
    const s = seconds.get(impl.id)!;
    rows.set(impl.id, {
      id: impl.id,
      tokensPerSecond: summarize(s.map((x) => tokens / x)),
      runs: s.length,
      error: reference === undefined ? 0 : relativeError(outputs.get(impl.id)!, reference),
    });
  }
  return impls.list.map((impl) => rows.get(impl.id)!);
}
