import { describe, expect, it } from 'vitest';
import { createAttention, createAttentionStack, restoreAttention, restoreAttentionStack } from '../src/index.js';
import type { AttentionOptions } from '../src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../src/cache/safetensors.js';
import { attentionOptionsArbitrary, checkIncremental } from '../src/testing/index.js';
import { expectClose } from './support/close.js';
import { expectNumpyCase, numpyCases } from './support/numpy-cases.js';
import { verificationFailure } from './testing/verification-failure.js';

// Learned sink logits (gpt-oss): one more score per head that weighs no value. Every engine
// property also draws them now and then (test/support/engine-arbitraries.ts), and the kit's own
// checks of the engine (test/testing/core-engine.test.ts); these pin the formula against outside numbers.

const sum = (w: ArrayLike<number>): number => Array.from(w).reduce((a, b) => a + b, 0);
const KERNEL_PATHS = ['auto', 'js'] as const;

describe('sinkLogits: α_j = e^(s_j) / (e^(σ_h) + Σ_k e^(s_k))', () => {
  it.each(numpyCases('sink-logits-numpy.json'))('%s against numpy: float64 within 1e-12, float32 within 1e-5 on both kernel paths; pushes, pushMany, batch and the testing kit', (_, c) => expectNumpyCase(c));

  it.each(KERNEL_PATHS)('by hand (kernels %s): one key of score 4 against a sink of 4 gets weight 1/2; two keys of scores 0 and 1 against a sink of 0 share 1 − 1/(2 + e)', (kernels) => {
    const one = createAttention({ dim: 1, sinkLogits: [4], withWeights: true, kernels });
    const [first] = one.push([2]);
    expect(first!.weights![0]![0]).toBe(0.5);
    expect(first!.output[0]).toBe(1);
    const two = createAttention({ dim: 1, sinkLogits: [0], withWeights: true, kernels, precision: 'float64' });
    two.push([0]);
    const [second] = two.push([1]);
    expectClose(second!.weights![0]!, [1 / (2 + Math.E), Math.E / (2 + Math.E)], 1e-15);
    expectClose(second!.output, [Math.E / (2 + Math.E)], 1e-15);
  });

  it.each(KERNEL_PATHS)('(kernels %s) a sink far below the scores changes no number; one far above takes all attention, the output exactly 0', (kernels) => {
    const xs = [[1, -2, 0.5, 3], [0.25, 1, -1, 2], [2, 2, -0.5, 0], [-1, 0.5, 1.5, 1]];
    const base: AttentionOptions = { dim: 4, heads: 2, positions: 'rope', withWeights: true, kernels };
    const plain = createAttention(base).pushMany(xs);
    expect(createAttention({ ...base, sinkLogits: [-1e300, -745] }).pushMany(xs)).toEqual(plain);
    for (const step of createAttention({ ...base, sinkLogits: [1e300, 800] }).pushMany(xs)) {
      // Exactly 0, of either sign (0 times a negative value).
      expect(step.output.every((v) => v === 0)).toBe(true);
      for (const w of step.weights!) expect(sum(w)).toBe(0);
    }
  });

  it('lets each head keep its own share: weights sum to 1 − e^(σ_h)/(e^(σ_h) + Σ e^(s)), per head', () => {
    const xs = [[0.5, 1, -1, 0.25], [1, 0, 0.5, -0.5], [-0.25, 0.75, 1, 1]];
    const sinkLogits = [0.5, -2];
    for (const kernels of KERNEL_PATHS) {
      const steps = createAttention({ dim: 4, heads: 2, sinkLogits, withWeights: true, kernels }).pushMany(xs);
      const plain = createAttention({ dim: 4, heads: 2, withWeights: true, precision: 'float64' }).pushMany(xs);
      steps.forEach((step, i) => {
        step.weights!.forEach((w, h) => {
          // Without the sink the same scores' softmax is plain's: e^(s_j) ∝ α_j, so Σ e^(s) / e^(s_0) = 1 / α_0.
          const x = xs[i]!.slice(2 * h, 2 * h + 2);
          const self = x[0]! * x[0]! + x[1]! * x[1]!;
          const rest = Math.exp(self) / plain[i]!.weights![h]![i]!;
          expect(Math.abs(sum(w) - rest / (rest + Math.exp(sinkLogits[h]!)))).toBeLessThan(1e-6);
        });
      });
    }
  });

  it('is saved in snapshots (version 4), compared on restore, and kept per layer by stacks', () => {
    const options: AttentionOptions = { dim: 4, heads: 2, sinkLogits: [0.5, -1] };
    const engine = createAttention(options);
    engine.push([1, 2, 3, 4]);
    const bytes = engine.snapshot();
    expect(decodeSafetensors(bytes).metadata['version']).toBe('4');
    const restored = restoreAttention(bytes);
    expect(Array.from(restored.options.sinkLogits!)).toEqual([0.5, -1]);
    expect(restored.push([0, 1, 0, 1])).toEqual(engine.push([0, 1, 0, 1]));
    const refused = (given: AttentionOptions) =>
      expect(() => restoreAttention(bytes, given)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'sinkLogits' } }));
    refused({ dim: 4, heads: 2 });
    refused({ dim: 4, heads: 2, sinkLogits: [0.5, -1.5] });
    expect(() => restoreAttention(createAttention({ dim: 4, heads: 2 }).snapshot(), options)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'sinkLogits' } }),
    );
    // gpt-oss alternates full and windowed layers; each keeps its own sinks.
    const stack = createAttentionStack({ layers: [{ dim: 4, heads: 2, sinkLogits: [1, 2] }, { dim: 4, heads: 2, window: 2, sinkLogits: [-1, 0] }] });
    for (let l = 0; l < 2; l++) stack.layer(l).push([1, 0, 0, 1]);
    const back = restoreAttentionStack(stack.snapshot());
    for (let l = 0; l < 2; l++) {
      expect(Array.from(back.layer(l).options.sinkLogits!)).toEqual(l === 0 ? [1, 2] : [-1, 0]);
      expect(back.layer(l).push([0, 1, 1, 0])).toEqual(stack.layer(l).push([0, 1, 1, 0]));
    }
  });

  it('refuses a file whose stored sink logits are not finite numbers as CORRUPT_SNAPSHOT', () => {
    const engine = createAttention({ dim: 2, sinkLogits: [1] });
    engine.push([1, 2]);
    const { tensors, metadata } = decodeSafetensors(engine.snapshot());
    const stored = JSON.parse(metadata['options']!) as Record<string, unknown>;
    for (const bad of [['x'], [null], [1, 2], 'x']) {
      const forged = encodeSafetensors(Object.fromEntries(tensors), { ...metadata, options: JSON.stringify({ ...stored, sinkLogits: bad }) });
      expect(() => restoreAttention(forged)).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT' }));
    }
  });

  it('the testing kit catches an engine that drops the sink logits, at either precision', () => {
    const dropsSinks = (options: AttentionOptions) => {
      const { sinkLogits: _, ...rest } = options;
      return createAttention(rest);
    };
    for (const precision of ['float32', 'float64'] as const) {
      const { mismatch, counterexample } = verificationFailure(() =>
        checkIncremental(dropsSinks, { numRuns: 200, optionsArbitrary: attentionOptionsArbitrary({ precision, softmaxVariants: true }) }),
      );
      expect(counterexample.options.sinkLogits).toBeDefined();
      expect(['output', 'weights']).toContain(mismatch.kind);
    }
  });

  it('refuses sink logits that are not one finite number per query head, naming the option', () => {
    const refusal = (sinkLogits: unknown, code: string) =>
      expect(() => createAttention({ dim: 4, heads: 2, sinkLogits: sinkLogits as number[] })).toThrow(expect.objectContaining({ code, details: expect.objectContaining({ field: 'sinkLogits' }) }));
    refusal([1], 'DIMENSION_MISMATCH');
    refusal([1, 2, 3], 'DIMENSION_MISMATCH');
    for (const bad of [[1, Number.NaN], [Infinity, 0], [0, -Infinity], ['1', 0], 5, null]) refusal(bad, 'INVALID_OPTION');
    // Per query head, not per kv head.
    expect(() => createAttention({ dim: 8, heads: 4, kvHeads: 2, headDim: 2, weights: {}, sinkLogits: [1, 2] })).toThrow(
      expect.objectContaining({ code: 'DIMENSION_MISMATCH', details: expect.objectContaining({ field: 'sinkLogits', expected: 4 }) }),
    );
  });
});
