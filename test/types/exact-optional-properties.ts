/**
 * Type-checked under `exactOptionalPropertyTypes` (tsconfig.exact.json, part of `npm run
 * typecheck`): options built from values that may be undefined, as strict projects write them,
 * are accepted where the runtime takes undefined as "not given". Nothing here runs.
 */
import fc from 'fast-check';
import { createAttention, createAttentionStack, createCrossAttention, createLinear } from '../../src/index.js';
import type { AttentionOptions, AttentionStep, SnapshotOptions, StepOptions, ThreadPool } from '../../src/index.js';
import { attend, generate } from '../../src/rx/index.js';
import { attentionOptionsArbitrary, attentionWeightsArbitrary, checkCacheLaws, checkIncremental } from '../../src/testing/index.js';
import type { CachedAttention, IncrementalAttention } from '../../src/testing/index.js';

declare const pool: ThreadPool | undefined;
declare const bias: Float32Array | undefined;
declare const window: number | undefined;
declare const wantWeights: boolean | undefined;
declare const seed: number | undefined;
declare const every: number | undefined;
declare const canDispose: boolean;
declare const restore: ((bytes: Uint8Array, options: AttentionOptions) => CachedAttention<Uint8Array>) | undefined;

export function strictCallers(): void {
  const options: AttentionOptions = { dim: 8, heads: 2, threads: pool, window, withWeights: wantWeights, weights: { wq: new Float32Array(64), wk: new Float32Array(64), wv: new Float32Array(64), bq: bias } };
  const engine = createAttention(options);
  const step: StepOptions = { withWeights: wantWeights };
  engine.push(new Float32Array(8), step);
  const saved: SnapshotOptions = { weights: wantWeights };
  engine.snapshot(saved);
  createAttentionStack({ layers: [options, { ...options, kernels: undefined }], threads: pool });
  createLinear({ rows: 2, cols: 4, weight: new Float32Array(8), bias, threads: pool });
  generate({ options, first: new Float32Array(8), next: () => null, maxTokens: 4, yieldEvery: every });
  checkIncremental(createAttention, { seed, numRuns: every, optionsArbitrary: attentionOptionsArbitrary({ maxWindow: window, withWeights: wantWeights }) });
  checkCacheLaws(createAttention, { seed, shrinkTimeLimit: every });
  // What a field left undefined must not make optional: a cross-attention's wq, wk and wv, and the
  // matrices attentionWeightsArbitrary always draws.
  // @ts-expect-error a cross-attention projects its queries and memory: wq, wk and wv are required.
  createCrossAttention({ dim: 2, weights: { wq: undefined, wk: undefined, wv: undefined } });
  fc.sample(attentionWeightsArbitrary({ dim: 2, heads: 1, kvHeads: 1, headDim: 2 }), 1).forEach((w) => w.wq.length + w.wk.length + w.wv.length);
  // A step rebuilt from another's, whose positions and weights may be undefined (a typings audit).
  const [pushed] = engine.push(new Float32Array(8));
  const rebuilt: AttentionStep = { index: pushed!.index, output: pushed!.output, positions: pushed!.positions, weights: pushed!.weights?.map((w) => w) };
  // Engines of the kit's users with an optional dispose or snapshot left undefined, and a restore that may be.
  const maybeDisposing = (options: AttentionOptions): IncrementalAttention => {
    const inner = createAttention(options);
    return { push: (x) => inner.push(x), flush: () => inner.flush(), dispose: canDispose ? () => inner.dispose() : undefined };
  };
  checkIncremental(maybeDisposing, { numRuns: every });
  checkCacheLaws((options): CachedAttention<Uint8Array> => createAttention(options), { restore });
  console.log(rebuilt.index);
}

/** An engine of the kit's user that returns plain arrays, as the checks read them (a typings audit: the kit's types wanted typed arrays). */
export function plainArrayEngine(): void {
  checkIncremental(() => ({ push: () => [{ index: 0, output: [0, 0], positions: [0], weights: [[1]] }], flush: () => [] }));
}

/** attend takes a factory of any engine with push, flush and dispose: a wrapper around the core's (a typings audit). */
export function wrappedEngine(): void {
  const engine = createAttention({ dim: 2 });
  attend(() => ({ push: (x) => engine.push(x), flush: () => engine.flush(), dispose: () => engine.dispose() }));
}
