import { readFileSync } from 'node:fs';

import type { AttentionOptions } from '../../src/index.js';

/**
 * Loader for the PyTorch float64 reference vectors copied into test/fixtures/reference-vectors/
 * (their README.md there is the schema). Only reading and reshaping lives here; every comparison
 * stays in the tests.
 */

/** The folder of the copied fixtures, as a file URL. */
export const REFERENCE_VECTORS_DIR = new URL('../fixtures/reference-vectors/', import.meta.url);

export type ReferenceMask =
  | { readonly type: 'causal' }
  | { readonly type: 'sliding_window'; readonly window: number }
  | { readonly type: 'sinks'; readonly sinks: number; readonly window: number }
  | { readonly type: 'lookahead'; readonly lookahead: number };

export type ReferencePosition =
  | { readonly type: 'none' }
  | { readonly type: 'rope'; readonly base: number }
  | { readonly type: 'alibi'; readonly slopes: readonly number[] };

export interface ReferenceConfig {
  readonly mode: 'seed' | 'projected';
  readonly n: number;
  readonly d: number;
  readonly num_heads?: number;
  readonly num_kv_heads?: number;
  readonly head_dim?: number;
  readonly scale: number;
  readonly mask: ReferenceMask;
  readonly position: ReferencePosition;
}

type Matrix = readonly (readonly number[])[];

export interface ReferenceSubcase {
  readonly name: string;
  readonly config: ReferenceConfig;
  readonly inputs: { readonly x: Matrix };
  readonly params?: { readonly W_q: Matrix; readonly W_k: Matrix; readonly W_v: Matrix; readonly W_o: Matrix };
  readonly expected: {
    readonly outputs: Matrix;
    /** Seed mode `[i][j]`, projected `[h][i][j]`; see {@link weightRows}. */
    readonly weights: readonly Matrix[] | Matrix;
    readonly weights_layout: '[i][j]' | '[h][i][j]';
    readonly head_outputs?: readonly Matrix[];
    readonly q?: readonly Matrix[];
    readonly k?: readonly Matrix[];
    readonly v?: readonly Matrix[];
    readonly q_before_rope?: readonly Matrix[];
    readonly k_before_rope?: readonly Matrix[];
    readonly emit_after?: readonly number[];
  };
}

export interface ReferenceCase {
  readonly case: string;
  readonly subcases: readonly ReferenceSubcase[];
}

export interface ReferenceManifest {
  readonly files: readonly { readonly file: string; readonly case: string; readonly subcases: number; readonly bytes: number; readonly sha256: string }[];
}

export function readReferenceManifest(): ReferenceManifest {
  return JSON.parse(readFileSync(new URL('MANIFEST.json', REFERENCE_VECTORS_DIR), 'utf8')) as ReferenceManifest;
}

/** Parses one case file. `JSON.parse` recovers every double exactly: gen.py wrote them with `repr`. */
export function readReferenceCase(file: string): ReferenceCase {
  return JSON.parse(readFileSync(new URL(file, REFERENCE_VECTORS_DIR), 'utf8')) as ReferenceCase;
}

/** Query heads of a sub-case: 1 in seed mode. */
export function headCount(c: ReferenceConfig): number {
  return c.num_heads ?? 1;
}

/** Newest key query `i` sees: `i`, or `min(i + L, n − 1)` with look-ahead. */
export function lastKey(c: ReferenceConfig, i: number): number {
  return c.mask.type === 'lookahead' ? Math.min(i + c.mask.lookahead, c.n - 1) : i;
}

/** Look-ahead L of a sub-case (0 without look-ahead). */
export function lookaheadOf(c: ReferenceConfig): number {
  return c.mask.type === 'lookahead' ? c.mask.lookahead : 0;
}

/** The README's mask rule: may query `i` attend key `j` (with `j ≤ lastKey(i)`)? */
export function maskAllows(c: ReferenceConfig, i: number, j: number): boolean {
  const m = c.mask;
  switch (m.type) {
    case 'causal':
    case 'lookahead':
      return j <= lastKey(c, i);
    case 'sliding_window':
      return i - m.window < j && j <= i;
    case 'sinks':
      return j <= i && (j < m.sinks || i - m.window < j);
  }
}

/** Expected weights as `[h][i][j]` in both modes (seed mode has the single head 0). */
export function weightRows(s: ReferenceSubcase): readonly Matrix[] {
  return s.expected.weights_layout === '[i][j]' ? [s.expected.weights as Matrix] : (s.expected.weights as readonly Matrix[]);
}

/**
 * The engine options that express a sub-case. `wo: false` leaves out the output projection, so
 * outputs are the head outputs concatenated.
 */
export function referenceOptions(
  s: ReferenceSubcase,
  precision: 'float32' | 'float64',
  { wo = true }: { readonly wo?: boolean } = {},
): AttentionOptions {
  const c = s.config;
  const mask = c.mask;
  const position = c.position;
  return {
    dim: c.d,
    precision,
    withWeights: true,
    scale: c.scale,
    ...(c.mode === 'projected' ? projectedShape(s, wo) : {}),
    ...(mask.type === 'sliding_window' ? { window: mask.window } : {}),
    ...(mask.type === 'sinks' ? { window: mask.window, sinks: mask.sinks } : {}),
    ...(mask.type === 'lookahead' ? { lookahead: mask.lookahead } : {}),
    ...(position.type === 'rope' ? { positions: 'rope', ropeBase: position.base } : {}),
    ...(position.type === 'alibi' ? { positions: 'alibi' } : {}),
  };
}

function projectedShape(s: ReferenceSubcase, wo: boolean): Partial<AttentionOptions> {
  const c = s.config;
  const p = s.params;
  if (p === undefined) throw new Error(`${s.name}: projected sub-case without params`);
  return {
    heads: c.num_heads,
    kvHeads: c.num_kv_heads,
    headDim: c.head_dim,
    weights: { wq: p.W_q.flat(), wk: p.W_k.flat(), wv: p.W_v.flat(), ...(wo ? { wo: p.W_o.flat() } : {}) },
  };
}

/** Token `i`'s row in the flat per-head layout pushQKV reads: `concat over h of perHead[h][i]`. */
export function headConcat(perHead: readonly Matrix[], i: number): number[] {
  return perHead.flatMap((rows) => rows[i]!);
}
