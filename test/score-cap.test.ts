import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { batchAttention, createAttention, restoreAttention } from '../src/index.js';
import type { AttentionOptions, AttentionWeights } from '../src/index.js';
import { decodeSafetensors } from '../src/cache/safetensors.js';
import { wasmKernelsAvailable } from '../src/kernels/wasm/wasm-arena.js';
import { referenceAttention } from '../src/testing/index.js';
import { expectClose } from './support/close.js';

// Soft-capped scores, s → cap·tanh(s/cap) (Gemma 2). Every engine property also draws scoreCap now
// and then (test/support/engine-arbitraries.ts); these pin the formula against outside numbers.

describe('scoreCap: s → cap · tanh(s / cap) before the softmax', () => {
  const { cases } = JSON.parse(readFileSync(new URL('./fixtures/score-cap-numpy.json', import.meta.url), 'utf8')) as {
    cases: { name: string; options: AttentionOptions; x: number[][]; weights: AttentionWeights; outputs: number[][] }[];
  };

  it.each(cases.map((c) => [c.name, c] as const))('%s against numpy: float64 within 1e-12, float32 within 1e-5 on both kernel paths; pushes, pushMany, batch and the testing kit', (_, c) => {
    const runs = [['float64', 'auto', 1e-12], ['float32', 'auto', 1e-5], ['float32', 'js', 1e-5]] as const;
    for (const [precision, kernels, tolerance] of runs) {
      const options: AttentionOptions = { ...c.options, precision, kernels, weights: c.weights };
      const engine = createAttention(options);
      expect(engine.options.kernels).toBe(precision === 'float32' && kernels === 'auto' && wasmKernelsAvailable() ? 'wasm' : 'js');
      const many = createAttention(options).pushMany(c.x);
      const batch = batchAttention(c.x, options);
      const kit = referenceAttention(c.x, options);
      c.x.forEach((x, i) => {
        expectClose(engine.push(x)[0]!.output, c.outputs[i]!, tolerance, `${c.name} ${precision} ${kernels} push ${i}`);
        expectClose(many[i]!.output, c.outputs[i]!, tolerance, `pushMany ${i}`);
        expectClose(batch[i]!.output, c.outputs[i]!, tolerance, `batch ${i}`);
        expectClose(kit[i]!.output, c.outputs[i]!, 1e-12, `testing kit ${i}`);
      });
    }
  });

  it('caps by hand: scores 0 and 4 with cap 2 weigh as softmax(0, 2·tanh 2)', () => {
    const attn = createAttention({ dim: 1, scoreCap: 2, precision: 'float64', withWeights: true });
    attn.push([0]);
    const [step] = attn.push([2]);
    const capped = 2 * Math.tanh(2);
    expectClose(step!.weights![0]!, [1 / (1 + Math.exp(capped)), Math.exp(capped) / (1 + Math.exp(capped))], 1e-15);
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
