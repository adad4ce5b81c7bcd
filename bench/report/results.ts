import type { Skipped } from '../implementations.js';
import type { Machine } from '../machine.js';
import type { BandwidthResult } from '../sections/bandwidth.js';
import type { BeamsResult } from '../sections/beams.js';
import type { HalfWeightsRow } from '../sections/half-weights.js';
import type { LinearRow } from '../sections/linear.js';
import type { LongPromptResult } from '../sections/long-prompt.js';
import type { CellResult } from '../sections/grid.js';
import type { GroupedQueryResult } from '../sections/grouped-query.js';
import type { MemoryRow } from '../sections/memory.js';
import type { PrefillResult } from '../sections/prefill.js';
import type { RecomputeRow } from '../sections/recompute.js';
import type { RxResult } from '../sections/rx-overhead.js';
import type { SharpnessResult } from '../sections/sharpness.js';
import type { CacheOptionsResult } from '../sections/cache-options.js';
import type { StreamRow } from '../sections/stream.js';

/** Everything one run measured, as the report and --json see it. */
export interface BenchResults {
  readonly command: string;
  readonly profile: string;
  /** Idle milliseconds before each timed run of the grid and the stream (Profile.settleMs). */
  readonly settleMs: number;
  readonly machine: Machine;
  readonly versions: Record<string, string>;
  readonly settings: Record<string, string>;
  /** Implementations asked for that cannot run here. */
  readonly unavailable: readonly Skipped[];
  /** id → what it is, in table order. */
  readonly labels: Readonly<Record<string, string>>;
  seconds: number;
  bandwidth?: BandwidthResult;
  grid?: readonly CellResult[];
  stream?: { readonly heads: number; readonly headDim: number; readonly tokens: number; readonly rows: readonly StreamRow[] };
  recompute?: { readonly heads: number; readonly headDim: number; readonly rows: readonly RecomputeRow[] };
  prefill?: PrefillResult;
  longPrompt?: LongPromptResult;
  beams?: BeamsResult;
  linear?: LinearRow[];
  halfWeights?: HalfWeightsRow[];
  sharpness?: SharpnessResult;
  cacheOptions?: CacheOptionsResult;
  groupedQuery?: GroupedQueryResult;
  rx?: RxResult;
  memory?: readonly MemoryRow[];
}
