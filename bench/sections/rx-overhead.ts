import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { from } from 'rxjs';
import type { OperatorFunction } from 'rxjs';
import { createAttention } from '../../src/index.js';
import type { AttentionOptions, AttentionStep, Vector } from '../../src/index.js';
import { embeddings } from '../data.js';
import { ROOT } from '../implementations.js';
import { interleave, timed } from '../interleave.js';
import type { Profile } from '../profile.js';
import type { Progress } from '../progress.js';
import { pairedRatios, relativeError, summarize } from '../stats.js';
import type { Summary } from '../stats.js';

export type RxResult =
  | { readonly skipped: string }
  | {
      readonly dim: number;
      readonly tokens: number;
      /** Seconds per stream. */
      readonly direct: Summary;
      readonly rx: Summary;
      /** rx ÷ direct, per round. */
      readonly ratio: Summary;
      /** The median of the per-round ratios, − 1. */
      readonly overhead: number;
      readonly error: number;
    };

type Attend = (options: AttentionOptions) => OperatorFunction<Vector, AttentionStep>;

/** The rx subpath's `attend`, when src/rx/index.ts exists and exports it (it is imported by path so the bench type-checks without it). */
async function loadAttend(): Promise<Attend | string> {
  const path = join(ROOT, 'src', 'rx', 'index.ts');
  if (!existsSync(path)) return 'src/rx/index.ts does not exist yet';
  let rx: { attend?: unknown };
  try {
    rx = (await import(pathToFileURL(path).href)) as { attend?: unknown };
  } catch (error) {
    return `src/rx/index.ts does not load: ${(error as Error).message.split('\n')[0]}`;
  }
  return typeof rx.attend === 'function' ? (rx.attend as Attend) : 'src/rx/index.ts does not export attend';
}

/** The cost of the rx operator over the engine it wraps: the same tokens through `attend` and through a push loop. */
export async function runRxOverhead(profile: Profile, progress: Progress): Promise<RxResult> {
  const attend = await loadAttend();
  if (typeof attend === 'string') return { skipped: attend };
  const { dim, tokens, rounds } = profile.rx;
  const options: AttentionOptions = { dim };
  const xs = embeddings(tokens, dim);
  let directLast: ArrayLike<number> = [];
  let rxLast: ArrayLike<number> = [];
  progress.plan(2 * rounds);
  const seconds = interleave(
    [
      {
        id: 'direct',
        // Like the operator, which makes and disposes an engine per subscription.
        run: () =>
          timed(() => {
            const engine = createAttention(options);
            for (const x of xs) directLast = engine.push(x)[0]!.output;
            engine.dispose();
          }),
      },
      {
        id: 'rx',
        // A synchronous source: the whole stream runs inside subscribe.
        run: () => timed(() => from(xs).pipe(attend(options)).subscribe((step) => (rxLast = step.output))),
      },
    ],
    rounds,
    (id) => progress.tick(`rx overhead · ${id}`),
  );
  const ratio = pairedRatios(seconds.get('rx')!, seconds.get('direct')!);
  return {
    dim,
    tokens,
    direct: summarize(seconds.get('direct')!),
    rx: summarize(seconds.get('rx')!),
    ratio,
    overhead: ratio.median - 1,
    error: relativeError(rxLast, directLast),
  };
}
