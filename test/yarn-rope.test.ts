import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAttention, yarnRope } from '../src/index.js';
import type { AttentionWeights, YarnRopeScaling } from '../src/index.js';
import { ropeInverseFrequencies } from '../src/kernels/rope.js';
import { expectClose } from './support/close.js';
import { expectNumpyCase } from './support/numpy-cases.js';

interface PythonScaling {
  rope_dim: number;
  base: number;
  factor: number;
  original: number;
  beta_fast?: number;
  beta_slow?: number;
  truncate?: boolean;
  attention_factor?: number;
  mscale?: number;
  mscale_all_dim?: number;
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/yarn-numpy.json', import.meta.url), 'utf8')) as {
  frequencies: { name: string; scaling: PythonScaling; ropeFrequencies: number[]; attentionFactor: number }[];
  cases: { name: string; scaling: PythonScaling; options: { dim: number; heads: number; kvHeads: number; headDim: number }; x: number[][]; weights: AttentionWeights; outputs: number[][] }[];
};

/** The fixture's Python keyword arguments as yarnRope's fields. */
function scalingOf(p: PythonScaling): YarnRopeScaling {
  return {
    ropeDim: p.rope_dim,
    ropeBase: p.base,
    factor: p.factor,
    originalMaxPositionEmbeddings: p.original,
    ...(p.beta_fast === undefined ? {} : { betaFast: p.beta_fast }),
    ...(p.beta_slow === undefined ? {} : { betaSlow: p.beta_slow }),
    ...(p.truncate === undefined ? {} : { truncate: p.truncate }),
    ...(p.attention_factor === undefined ? {} : { attentionFactor: p.attention_factor }),
    ...(p.mscale === undefined ? {} : { mscale: p.mscale }),
    ...(p.mscale_all_dim === undefined ? {} : { mscaleAllDim: p.mscale_all_dim }),
  };
}

const scaling = fc.record({
  ropeDim: fc.integer({ min: 1, max: 96 }).map((h) => 2 * h),
  ropeBase: fc.double({ min: 2, max: 1e7, noNaN: true }),
  factor: fc.double({ min: 1, max: 64, noNaN: true }),
  originalMaxPositionEmbeddings: fc.integer({ min: 16, max: 131072 }),
  betaSlow: fc.double({ min: 0.25, max: 4, noNaN: true }),
  gap: fc.double({ min: 0, max: 64, noNaN: true }),
  truncate: fc.boolean(),
}).map(({ gap, ...s }): YarnRopeScaling => ({ ...s, betaFast: s.betaSlow + gap }));

describe('yarnRope: Hugging Face rope_scaling "yarn"', () => {
  it.each(fixture.frequencies.map((f) => [f.name, f] as const))("%s: the numpy fixture's speeds within 1e-15 and its attention factor (scripts/reference/yarn.py)", (_, f) => {
    const { ropeFrequencies, attentionFactor } = yarnRope(scalingOf(f.scaling));
    expectClose(ropeFrequencies, f.ropeFrequencies, 1e-15);
    expect(attentionFactor).toBeCloseTo(f.attentionFactor, 15);
  });

  it('runs attention as Hugging Face does with cos and sin times the attention factor: scale attentionFactor² / √headDim (numpy; every path, expectNumpyCase)', () => {
    const c = fixture.cases[0]!;
    const { ropeFrequencies, attentionFactor } = yarnRope(scalingOf(c.scaling));
    const scale = attentionFactor ** 2 / Math.sqrt(c.options.headDim);
    expectNumpyCase({ ...c, options: { ...c.options, positions: 'rope', ropeFrequencies, scale } });
  });

  it('keeps the fast pairs, divides the slow ones by factor, ramps between; factor 1 changes nothing', () => {
    fc.assert(
      fc.property(scaling, (s) => {
        const plain = ropeInverseFrequencies(s.ropeDim, s.ropeBase);
        const { ropeFrequencies, attentionFactor } = yarnRope(s);
        expect(ropeFrequencies).toHaveLength(s.ropeDim / 2);
        // The pair turning betaFast times over the original context, and the one turning betaSlow times.
        const pairAt = (r: number) => (s.ropeDim * Math.log(s.originalMaxPositionEmbeddings / (r * 2 * Math.PI))) / (2 * Math.log(s.ropeBase));
        const low = Math.max(0, s.truncate ? Math.floor(pairAt(s.betaFast!)) : pairAt(s.betaFast!));
        const high = Math.min(s.ropeDim - 1, s.truncate ? Math.ceil(pairAt(s.betaSlow!)) : pairAt(s.betaSlow!));
        // (A ramp whose ends cross, the fast end clamped past the slow one, runs backwards, as in Hugging Face.)
        const ordered = low < high;
        let previous = 1;
        plain.forEach((f, m) => {
          const got = ropeFrequencies[m]!;
          if (ordered && m <= low) expect(got).toBe(f);
          if (ordered && m >= high) expectClose([got], [f / s.factor], 1e-15);
          expect(got).toBeGreaterThanOrEqual((f / s.factor) * (1 - 1e-15));
          expect(got).toBeLessThanOrEqual(f * (1 + 1e-15));
          // The share of f kept never grows with m: speeds blend from f towards f / factor.
          const kept = (got - f / s.factor) / (f - f / s.factor);
          if (ordered && s.factor > 1.001) expect(kept).toBeLessThanOrEqual(previous + 1e-9);
          previous = kept;
        });
        expect(attentionFactor).toBeCloseTo(0.1 * Math.log(s.factor) + 1, 15);
        const same = yarnRope({ ...s, factor: 1 });
        expectClose(same.ropeFrequencies, plain, 1e-15);
        expect(same.attentionFactor).toBe(1);
      }),
      { numRuns: 200 },
    );
  });

  it('spread into the options, its attentionFactor is refused by the types and at run time, saying it is a scale (an API review)', () => {
    const yarn = yarnRope({ ropeDim: 4, ropeBase: 10000, factor: 4, originalMaxPositionEmbeddings: 64 });
    // @ts-expect-error attentionFactor is no option: it goes into scale.
    const spread = () => createAttention({ dim: 4, positions: 'rope', ...yarn });
    expect(spread).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'attentionFactor' }, message: expect.stringContaining('scale: attentionFactor ** 2 / Math.sqrt(headDim)') }));
    expect(createAttention({ dim: 4, attentionFactor: undefined }).options.dim).toBe(4);
    const { ropeFrequencies } = yarn;
    expect(createAttention({ dim: 4, positions: 'rope', ropeFrequencies, scale: yarn.attentionFactor ** 2 / 2 }).options.scale).toBeCloseTo(yarn.attentionFactor ** 2 / 2, 15);
  });

  it('refuses what the formula cannot take, naming the field', () => {
    const gptOss: YarnRopeScaling = { ropeDim: 64, ropeBase: 150000, factor: 32, originalMaxPositionEmbeddings: 4096 };
    const bad: [Partial<Record<keyof YarnRopeScaling, unknown>>, string][] = [
      [{ ropeDim: 7 }, 'ropeDim'],
      [{ ropeDim: 0 }, 'ropeDim'],
      [{ ropeBase: 1 }, 'ropeBase'],
      [{ factor: 0 }, 'factor'],
      [{ factor: '32' }, 'factor'],
      // Found by a bug hunt: a speed divided by 1e-310 overflowed, and the ramp's 0·∞ made it NaN.
      [{ factor: 1e-310 }, 'factor'],
      // Found by a resource hunt: 2³² + 4 gave 2 frequencies (ropeDim >> 1 wrapped), 2²⁸ took 10 s and 1 GiB.
      [{ ropeDim: 2 ** 32 + 4 }, 'ropeDim'],
      [{ ropeDim: 2 ** 28 }, 'ropeDim'],
      [{ originalMaxPositionEmbeddings: Infinity }, 'originalMaxPositionEmbeddings'],
      [{ betaFast: -1 }, 'betaFast'],
      [{ betaSlow: Number.NaN }, 'betaSlow'],
      // Found by a positions audit: original / (2π·beta) overflowed, and the refusal named factor.
      [{ betaFast: 1e-320 }, 'betaFast'],
      [{ betaSlow: 1e-320 }, 'betaSlow'],
      // A review of that: a speed past the bound ropeFrequencies takes (8.37e298) named ropeFrequencies, not factor.
      [{ factor: 1e-304 }, 'factor'],
      [{ truncate: 'no' }, 'truncate'],
      [{ attentionFactor: 0 }, 'attentionFactor'],
      [{ mscale: -1, mscaleAllDim: 1 }, 'mscale'],
      [{ mscale: 1, mscaleAllDim: Infinity }, 'mscaleAllDim'],
      // Found by an errors.md audit: checked only when both were given and attentionFactor was not.
      [{ mscale: -5 }, 'mscale'],
      [{ mscaleAllDim: 0 }, 'mscaleAllDim'],
      [{ attentionFactor: 1, mscale: Number.NaN, mscaleAllDim: 1 }, 'mscale'],
    ];
    for (const [change, field] of bad) {
      expect(() => yarnRope({ ...gptOss, ...change } as YarnRopeScaling), field).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: expect.objectContaining({ field }) }));
    }
    expect(() => yarnRope(null as unknown as YarnRopeScaling)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    // A string that reads like the right value is shown as a string (a review: "got true" for 'true').
    expect(() => yarnRope({ ...gptOss, truncate: 'true' as unknown as boolean })).toThrow('must be a boolean, got "true" (a string)');
    // A beta so large that original / (2π·beta) underflows to 0 puts the ramp's end before pair 0: taken, as before.
    expect(yarnRope({ ...gptOss, betaFast: 1e308, betaSlow: 1e308 }).ropeFrequencies.length).toBe(32);
  });
});
