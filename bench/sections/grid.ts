import type { Implementations } from '../implementations.js';
import type { Cell, DecodeImplementation } from '../impls/decode-implementation.js';
import { settle } from '../interleave.js';
import type { Profile } from '../profile.js';
import type { Progress } from '../progress.js';
import { relativeError, summarize } from '../stats.js';
import type { Summary } from '../stats.js';

/** Outputs of two implementations agree when their relative max difference is below this (float32, different summation orders). */
export const AGREEMENT = 1e-3;

/** One implementation on one cell: µs per decode step, or why it has no figure. */
export interface CellRow {
  readonly id: string;
  readonly micros?: Summary;
  /** Relative max difference of its output from the reference's (attnstream's). */
  readonly error?: number;
  readonly skipped?: string;
}

export interface CellResult {
  readonly cell: Cell;
  readonly rows: readonly CellRow[];
  /** Bytes of keys and values one step reads: 2·H·D·(n+1)·4. */
  readonly cacheBytes: number;
  /**
   * The groups the implementations ran in, one after another, each interleaved within itself,
   * when their caches together outgrew the memory budget; absent when all ran interleaved.
   */
  readonly groups?: readonly (readonly string[])[];
}

/**
 * The implementations the speed targets compare, kept in one group (and so interleaved with each
 * other) however a large cell is split: the engine, its thread pool, and single-threaded C.
 */
const TOGETHER = ['attnstream', 'attnstream-2t', 'c-1t'];

/** What each implementation's steps cost so far: cache elements H·D·(n+1) → median µs. */
export class StepHistory {
  private readonly records = new Map<string, { elements: number; micros: number }[]>();

  record(id: string, elements: number, micros: number): void {
    const list = this.records.get(id) ?? [];
    list.push({ elements, micros });
    this.records.set(id, list);
  }

  /** µs of a step over `elements`, scaled linearly from the nearest measured size (log distance); null before any. */
  predict(id: string, elements: number): number | null {
    const list = this.records.get(id);
    if (list === undefined || list.length === 0) return null;
    let best = list[0]!;
    for (const r of list) if (Math.abs(Math.log(r.elements / elements)) < Math.abs(Math.log(best.elements / elements))) best = r;
    // Fixed costs do not shrink: scale down no further than the measured time itself.
    return elements >= best.elements ? (best.micros * elements) / best.elements : best.micros;
  }
}

/** Cache bytes each implementation keeps alive per cache byte of the cell, for grouping under the memory budget. */
const MEMORY_FACTOR: Record<string, number> = {
  attnstream: 1,
  'attnstream-js': 1,
  'attnstream-2t': 1,
  'plain-js': 0, // uses the shared cell data as its cache
  'ort-matmul': 1, // the shared cell data, plus transposed copies while it runs
  'ort-attention': 2, // its head-major past, plus the present it returns
  'tfjs-cpu': 2, // its tensors, plus the concatenated copy
  'tfjs-wasm': 2,
  'c-1t': 1,
  'c-2t': 1,
  numpy: 1,
};

export function cacheBytes(cell: Cell): number {
  return 2 * cell.heads * cell.headDim * (cell.n + 1) * 4;
}

/**
 * Measures every cell: implementations are set up, warmed up, then timed in interleaved rounds (a
 * rotating order, so drift in the machine's load spreads over all of them), and their outputs
 * compared with attnstream's. An implementation predicted to need more than the profile's
 * per-step budget is skipped for the cell, with the prediction as the reason.
 */
export async function runGrid(profile: Profile, impls: Implementations, history: StepHistory, progress: Progress): Promise<CellResult[]> {
  const results: CellResult[] = [];
  progress.plan(profile.cells.length * impls.list.length);
  for (const cell of profile.cells) {
    const label = `grid H=${cell.heads} D=${cell.headDim} n=${cell.n}`;
    const elements = cell.heads * cell.headDim * (cell.n + 1);
    const bytes = cacheBytes(cell);
    const rows = new Map<string, CellRow>();
    const runnable: DecodeImplementation[] = [];
    for (const impl of impls.list) {
      const predicted = history.predict(impl.id, elements);
      if (predicted !== null && predicted / 1e6 > profile.maxStepSeconds) {
        rows.set(impl.id, { id: impl.id, skipped: `~${formatSeconds(predicted / 1e6)} per step predicted; over the ${profile.maxStepSeconds} s budget` });
        progress.tick(label);
      } else runnable.push(impl);
    }
    const outputs = new Map<string, ArrayLike<number>>();
    const samples = new Map<string, number[]>();
    const rank = (impl: DecodeImplementation): number => (TOGETHER.includes(impl.id) ? TOGETHER.indexOf(impl.id) : TOGETHER.length);
    const groups = memoryGroups([...runnable].sort((a, b) => rank(a) - rank(b)), bytes, profile.memoryBytes);
    for (const group of groups) {
      const live: DecodeImplementation[] = [];
      const estimate = new Map<string, number>();
      for (const impl of group) {
        progress.status(`${label} · set up ${impl.id}`);
        try {
          await impl.setup(cell);
          estimate.set(impl.id, await warmUp(impl));
          live.push(impl);
        } catch (error) {
          rows.set(impl.id, { id: impl.id, skipped: `failed: ${(error as Error).message.split('\n')[0]}` });
          await impl.teardown().catch(() => {});
          progress.tick(label);
        }
      }
      for (let round = 0; round < profile.rounds; round++) {
        for (let i = 0; i < live.length; i++) {
          const impl = live[(i + round) % live.length]!;
          if (rows.has(impl.id)) continue;
          progress.status(`${label} · ${impl.id} (round ${round + 1}/${profile.rounds})`);
          const count = Math.max(1, Math.min(500, Math.round((profile.cellSeconds / profile.rounds) / (estimate.get(impl.id)! / 1e6))));
          await settle(profile.settleMs);
          try {
            const { times, output } = await impl.steps(count);
            samples.set(impl.id, [...(samples.get(impl.id) ?? []), ...times]);
            outputs.set(impl.id, output);
          } catch (error) {
            rows.set(impl.id, { id: impl.id, skipped: `failed: ${(error as Error).message.split('\n')[0]}` });
          }
        }
      }
      for (const impl of live) {
        await impl.teardown();
        progress.tick(label);
      }
    }
    impls.releaseCellData();
    const reference = outputs.get('attnstream') ?? outputs.values().next().value;
    for (const impl of impls.list) {
      if (rows.has(impl.id)) continue;
      const times = samples.get(impl.id);
      if (times === undefined) continue;
      const micros = summarize(times);
      history.record(impl.id, elements, micros.median);
      rows.set(impl.id, { id: impl.id, micros, error: reference === undefined ? 0 : relativeError(outputs.get(impl.id)!, reference) });
    }
    results.push({
      cell,
      cacheBytes: bytes,
      rows: impls.list.map((impl) => rows.get(impl.id)!).filter((r) => r !== undefined),
      ...(groups.length > 1 ? { groups: groups.map((group) => group.map((impl) => impl.id)) } : {}),
    });
  }
  return results;
}

/**
 * Steps until the JIT (or the library's first-run set-up) has settled: one step, then more until
 * about 30 ms have passed (at most 50). Returns the median µs of the later steps, the estimate
 * that sizes the timed rounds.
 */
async function warmUp(impl: DecodeImplementation): Promise<number> {
  const first = (await impl.steps(1)).times[0]!;
  const count = Math.max(1, Math.min(50, Math.ceil(30_000 / Math.max(first, 1))));
  if (first > 200_000) return first;
  return summarize((await impl.steps(count)).times).median;
}

/** Splits `impls` into groups whose estimated live caches stay under `budget` bytes (each alone if it must). */
function memoryGroups(impls: readonly DecodeImplementation[], bytes: number, budget: number): DecodeImplementation[][] {
  const groups: DecodeImplementation[][] = [];
  let current: DecodeImplementation[] = [];
  // The shared cell data counts once, in every group that has an in-process implementation.
  let used = bytes;
  for (const impl of impls) {
    const need = (MEMORY_FACTOR[impl.id] ?? 1) * bytes;
    if (current.length > 0 && used + need > budget) {
      groups.push(current);
      current = [];
      used = bytes;
    }
    current.push(impl);
    used += need;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

export function formatSeconds(seconds: number): string {
  if (seconds >= 100) return `${Math.round(seconds)} s`;
  if (seconds >= 1) return `${seconds.toPrecision(2)} s`;
  if (seconds >= 1e-3) return `${(seconds * 1e3).toPrecision(2)} ms`;
  return `${(seconds * 1e6).toPrecision(2)} µs`;
}
