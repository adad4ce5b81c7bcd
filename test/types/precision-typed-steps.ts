/**
 * Type-checked by `npm run typecheck` (tsconfig.json and tsconfig.exact.json): an engine's steps are
 * typed by the precision its options give, so a decoder's float32 code needs no casts (a typings
 * audit: every output was `Float32Array | Float64Array`). Nothing here runs.
 */
import { createAttention, createAttentionStack, createCrossAttention, pushEach, restoreAttention, restoreAttentionStack, restoreCrossAttention } from '../../src/index.js';
import type { Attention, AttentionOptions, AttentionStack, AttentionStep, CrossAttention } from '../../src/index.js';
import { attend, generate } from '../../src/rx/index.js';
import type { Observable, OperatorFunction } from 'rxjs';

declare const options: AttentionOptions;

export function typedByPrecision(): void {
  const engine = createAttention({ dim: 4, heads: 2 });
  const output: Float32Array = engine.push([1, 0, 0, 1])[0]!.output;
  const weights: Float32Array[] | undefined = engine.push([1, 0, 0, 1], { withWeights: true })[0]!.weights;
  const fork: Attention<Float32Array> = engine.fork();
  const beams: Float32Array[] = pushEach([fork, engine.fork()], [[1, 0, 0, 0], [0, 1, 0, 0]]).map((steps) => steps[0]!.output);
  const back: Attention<Float32Array> = restoreAttention(engine.snapshot(), engine);

  const wide = createAttention({ dim: 4, precision: 'float64' });
  const wideOutput: Float64Array = wide.pushMany([[1, 0, 0, 1]])[0]!.output;
  // @ts-expect-error a float64 engine's output is not a Float32Array.
  const narrowed: Float32Array = wide.flush()[0]!.output;

  // Options whose type leaves the precision open give either.
  const open = createAttention(options);
  // @ts-expect-error the options' type does not say float32.
  const guessed: Float32Array = open.push([1])[0]!.output;
  const either: Float32Array | Float64Array = open.push([1])[0]!.output;

  const stack = createAttentionStack({ layers: 2, dim: 4 });
  const layerOutput: Float32Array = stack.layer(1).push([1, 0, 0, 1])[0]!.output;
  const beam: AttentionStack<Float32Array> = restoreAttentionStack(stack.fork().snapshot(), stack);
  const wideStack: AttentionStack<Float64Array> = createAttentionStack({ layers: [{ window: 4 }, {}], dim: 4, precision: 'float64' });
  // A layer of another precision leaves the stack's open.
  // @ts-expect-error layer 1 is float32.
  const mixed: AttentionStack<Float64Array> = createAttentionStack({ layers: [{}, { precision: 'float32' }], dim: 4, precision: 'float64' });
  // Code written for any engine takes typed ones.
  const anyStack: AttentionStack = wideStack;
  const anyEngine: Attention = back;

  const cross = createCrossAttention({ dim: 4 });
  cross.setMemory([[1, 0, 0, 1]]);
  const crossOutput: Float32Array = cross.attend([1, 0, 0, 1]).output;
  const listener: CrossAttention<Float32Array> = restoreCrossAttention(cross.fork().snapshot(), cross);
  const wideCross: Float64Array[] = createCrossAttention({ dim: 4, precision: 'float64' }).attendMany([[1, 0, 0, 1]]).map((step) => step.output);

  // The rx operators, from options or from an engine, type their steps the same way.
  const attended: OperatorFunction<number[], AttentionStep<Float32Array>> = attend({ dim: 4 });
  const wideAttended: OperatorFunction<number[], AttentionStep<Float64Array>> = attend(() => createAttention({ dim: 4, precision: 'float64' }));
  const openAttended: OperatorFunction<number[], AttentionStep> = attend(options);
  const generated: Observable<AttentionStep<Float32Array>> = generate({ options: { dim: 4 }, first: [1, 0, 0, 1], next: (step) => step.output, maxTokens: 3 });
  const fromEngine: Observable<AttentionStep<Float64Array>> = generate({ engine: wide, first: [1, 0, 0, 1], next: (step) => step.output.subarray(0), maxTokens: 3 });
  // @ts-expect-error a float64 loop's steps are not float32's.
  const mistyped: Observable<AttentionStep<Float32Array>> = generate({ engine: wide, first: [1, 0, 0, 1], next: () => null, maxTokens: 3 });

  console.log(attended, wideAttended, openAttended, generated, fromEngine, mistyped);
  console.log(output, weights, beams, wideOutput, narrowed, guessed, either, layerOutput, beam, mixed, anyStack, anyEngine, crossOutput, listener, wideCross);
}
