import { describe, expect, it } from 'vitest';
import { createAttention, restoreAttention } from '../src/index.js';
import type { AttentionOptions } from '../src/index.js';
import { decodeSafetensors } from '../src/cache/safetensors.js';
import { expectClose } from './support/close.js';
import { expectNumpyCase, numpyCases } from './support/numpy-cases.js';

// Soft-capped scores, s → cap·tanh(s/cap) (Gemma 2). Every engine property also draws scoreCap now
// and then (test/support/engine-arbitraries.ts); these pin the formula against outside numbers.

describe('scoreCap: s → cap · tanh(s / cap) before the softmax', () => {
  it.each(numpyCases('score-cap-numpy.json'))('%s against numpy: float64 within 1e-12, float32 within 1e-5 on both kernel paths; pushes, pushMany, batch and the testing kit', (_, c) => expectNumpyCase(c));

  it('caps by hand: scores 0 and 4 with cap 2 weigh as softmax(0, 2·tanh 2)', () => {
    const attn = createAttention({ dim: 1, scoreCap: 2, precision: 'float64', withWeights: true });
    attn.push([0]);
    const [step] = attn.push([2]);
    const capped = 2 * Math.tanh(2);
    expectClose(step!.weights![0]!, [1 / (1 + Math.exp(capped)), Math.exp(capped) / (1 + Math.exp(capped))], 1e-15);
  });

  it('takes any positive cap on both kernel paths, one below 1.1e-308 too (where -2/cap is -∞)', () => {
    // Found by a bug hunt: the WebAssembly kernel scaled by -2/cap, and a score of 0 became 0·-∞ = NaN.
    const xs = [[0, 0], [0, 0], [1, 0], [1e-320, 0]];
    for (const scoreCap of [1e-300, 1e-308, 5e-324, 1e300]) {
      const steps = (kernels: 'auto' | 'js') => createAttention({ dim: 2, kernels, scoreCap, withWeights: true }).pushMany(xs).map((step) => Array.from(step.weights![0]!));
      expect(steps('auto'), String(scoreCap)).toEqual(steps('js'));
    }
  });

  it('is saved in snapshots (version 3), compared on restore, and refused when not a positive finite number', () => {
    const options: AttentionOptions = { dim: 2, scoreCap: 30 };
    const engine = createAttention(options);
    engine.push([1, 2]);
    const bytes = engine.snapshot();
    expect(decodeSafetensors(bytes).metadata['version']).toBe('3');
    expect(restoreAttention(bytes).options.scoreCap).toBe(30);
    expect(() => restoreAttention(bytes, { dim: 2 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'scoreCap' } }));
    for (const bad of [0, -1, Number.NaN, Infinity, '5']) {
      expect(() => createAttention({ dim: 2, scoreCap: bad as number })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'scoreCap' } }));
    }
  });
});
