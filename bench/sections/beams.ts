import { createAttention, pushEach } from '../../src/index.js';
import { embeddings } from '../data.js';
import { interleave, timed } from '../interleave.js';
import type { Profile } from '../profile.js';
import type { Progress } from '../progress.js';
import { pairedRatios, relativeError, summarize } from '../stats.js';
import type { Summary } from '../stats.js';
import { projectedOptions, projectionMB } from './prefill.js';

export interface BeamsRow {
  readonly dim: number;
  /** MB of float32 projection matrices (wq, wk, wv, wo) the step reads. */
  readonly weightMB: number;
  /** µs per step of every beam. */
  readonly each: Summary;
  readonly single: Summary;
  /** single ÷ each, per round. */
  readonly ratio: Summary;
  /** Relative max difference between the two paths' outputs (0: bit for bit). */
  readonly error: number;
}

export interface BeamsResult {
  readonly beams: number;
  readonly cached: number;
  readonly headDim: number;
  readonly rows: BeamsRow[];
}

/**
 * A beam-search step with projections: `beams` forks of one engine (a `cached`-token prompt) each
 * take one token, by pushEach or by one push per fork; interleaved rounds of `steps` steps each,
 * on fresh forks, µs per step.
 */
export function runBeams(profile: Profile, progress: Progress): BeamsResult {
  const { beams, cached, headDim, heads, steps, rounds } = profile.beams;
  progress.plan(2 * rounds * heads.length);
  const rows = heads.map((h): BeamsRow => {
    const options = projectedOptions(h, headDim, true);
    const root = createAttention(options);
    root.pushMany(embeddings(cached, options.dim));
    const xs = embeddings(cached + beams, options.dim).slice(cached);
    let lastEach: ArrayLike<number> = [];
    let lastSingle: ArrayLike<number> = [];
    const run = (batched: boolean) => () => {
      const forks = xs.map(() => root.fork());
      const s = timed(() => {
        for (let step = 0; step < steps; step++) {
          if (batched) lastEach = pushEach(forks, xs).at(-1)![0]!.output;
          else forks.forEach((fork, i) => (lastSingle = fork.push(xs[i]!)[0]!.output));
        }
      });
      for (const fork of forks) fork.dispose();
      return s;
    };
    const seconds = interleave(
      [
        { id: 'each', run: run(true) },
        { id: 'single', run: run(false) },
      ],
      rounds,
      (id) => progress.tick(`${beams} beams at dim ${options.dim} · ${id === 'each' ? 'pushEach' : 'push per beam'}`),
    );
    root.dispose();
    const perStep = (id: string) => summarize(seconds.get(id)!.map((s) => (s / steps) * 1e6));
    return {
      dim: options.dim,
      weightMB: projectionMB(options.dim),
      each: perStep('each'),
      single: perStep('single'),
      ratio: pairedRatios(seconds.get('single')!, seconds.get('each')!),
      error: relativeError(lastEach, lastSingle),
    };
  });
  return { beams, cached, headDim, rows };
}
