import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAttention, llama3RopeFrequencies } from '../src/index.js';
import type { Llama3RopeScaling } from '../src/index.js';
import { ropeInverseFrequencies } from '../src/kernels/rope.js';
import { expectClose } from './support/close.js';

const LLAMA_31: Llama3RopeScaling = { ropeDim: 8, ropeBase: 500000, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };

const scaling = fc.record({
  ropeDim: fc.integer({ min: 1, max: 96 }).map((h) => 2 * h),
  ropeBase: fc.double({ min: 2, max: 1e7, noNaN: true }),
  factor: fc.double({ min: 1, max: 64, noNaN: true }),
  lowFreqFactor: fc.double({ min: 0.25, max: 4, noNaN: true }),
  gap: fc.double({ min: 0.01, max: 8, noNaN: true }),
  originalMaxPositionEmbeddings: fc.integer({ min: 16, max: 131072 }),
}).map(({ gap, ...s }): Llama3RopeScaling => ({ ...s, highFreqFactor: s.lowFreqFactor + gap }));

describe('llama3RopeFrequencies: Hugging Face rope_scaling "llama3"', () => {
  it("gives the numpy fixture's speeds (scripts/reference/rope_variants.py, one speed in each band)", () => {
    const { cases } = JSON.parse(readFileSync(new URL('./fixtures/rope-variants-numpy.json', import.meta.url), 'utf8')) as {
      cases: { name: string; options: { ropeFrequencies?: number[] } }[];
    };
    const fixture = cases.find((c) => c.name === 'llama3_scaled_frequencies')!.options.ropeFrequencies!;
    expectClose(llama3RopeFrequencies(LLAMA_31), fixture, 1e-15);
  });

  it('keeps short wavelengths, divides long ones by factor, blends between, continuously; factor 1 changes nothing', () => {
    fc.assert(
      fc.property(scaling, (s) => {
        const plain = ropeInverseFrequencies(s.ropeDim, s.ropeBase);
        const scaled = llama3RopeFrequencies(s);
        expect(scaled).toHaveLength(s.ropeDim / 2);
        plain.forEach((f, m) => {
          const wavelength = (2 * Math.PI) / f;
          const got = scaled[m]!;
          if (wavelength < s.originalMaxPositionEmbeddings / s.highFreqFactor) expect(got).toBe(f);
          else if (wavelength > s.originalMaxPositionEmbeddings / s.lowFreqFactor) expect(got).toBe(f / s.factor);
          else {
            expect(got).toBeGreaterThanOrEqual((f / s.factor) * (1 - 1e-15));
            expect(got).toBeLessThanOrEqual(f * (1 + 1e-15));
          }
        });
        // The blend meets both neighbours at the band's edges. With ropeDim 2 the one speed is 1
        // (wavelength 2π); an original length just either side of 2π·low or 2π·high puts it there.
        const speedAt = (original: number) => llama3RopeFrequencies({ ...s, ropeDim: 2, originalMaxPositionEmbeddings: original })[0]!;
        for (const side of [1 - 1e-12, 1 + 1e-12]) {
          expect(Math.abs(speedAt(2 * Math.PI * s.lowFreqFactor * side) - 1 / s.factor)).toBeLessThan(1e-9);
          expect(Math.abs(speedAt(2 * Math.PI * s.highFreqFactor * side) - 1)).toBeLessThan(1e-9);
        }
        expectClose(llama3RopeFrequencies({ ...s, factor: 1 }), plain, 1e-15);
      }),
      { numRuns: 200 },
    );
  });

  it('feeds ropeFrequencies: an engine given them equals one given ropeBase when the factor is 1, and differs with factor 8', () => {
    const dim = 16;
    const xs = Array.from({ length: 24 }, (_, t) => Float64Array.from({ length: dim }, (_, c) => Math.sin(0.3 * t + c)));
    const base = { dim, heads: 2, headDim: 8, positions: 'rope' as const, precision: 'float64' as const };
    const plain = createAttention({ ...base, ropeBase: 500000 }).pushMany(xs);
    const same = createAttention({ ...base, ropeFrequencies: llama3RopeFrequencies({ ...LLAMA_31, factor: 1, originalMaxPositionEmbeddings: 16 }) }).pushMany(xs);
    const scaled = createAttention({ ...base, ropeFrequencies: llama3RopeFrequencies({ ...LLAMA_31, originalMaxPositionEmbeddings: 16 }) }).pushMany(xs);
    xs.forEach((_, t) => expectClose(same[t]!.output, plain[t]!.output, 1e-13));
    expect(scaled.some((step, t) => step.output.some((v, c) => Math.abs(v - plain[t]!.output[c]!) > 1e-6))).toBe(true);
  });

  it('refuses what the formula cannot take, naming the field', () => {
    const bad: [Partial<Record<keyof Llama3RopeScaling, unknown>>, string][] = [
      [{ ropeDim: 7 }, 'ropeDim'],
      [{ ropeDim: 0 }, 'ropeDim'],
      // Found by a resource hunt: 2³² + 4 gave 2 frequencies (ropeDim >> 1 wrapped), 2²⁸ took 10 s and 1 GiB.
      [{ ropeDim: 2 ** 32 + 4 }, 'ropeDim'],
      [{ ropeDim: 2 ** 28 }, 'ropeDim'],
      [{ ropeBase: 1 }, 'ropeBase'],
      [{ ropeBase: Number.NaN }, 'ropeBase'],
      [{ factor: 0 }, 'factor'],
      [{ factor: '8' }, 'factor'],
      [{ lowFreqFactor: -1 }, 'lowFreqFactor'],
      [{ highFreqFactor: 1 }, 'highFreqFactor'],
      [{ originalMaxPositionEmbeddings: Infinity }, 'originalMaxPositionEmbeddings'],
    ];
    for (const [change, field] of bad) {
      expect(() => llama3RopeFrequencies({ ...LLAMA_31, ...change } as Llama3RopeScaling)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field } }));
    }
    expect(() => llama3RopeFrequencies(null as unknown as Llama3RopeScaling)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });
});
