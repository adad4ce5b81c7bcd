import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dynamicNtkRopeFrequencies } from '../src/index.js';
import type { AttentionWeights, DynamicNtkRopeScaling } from '../src/index.js';
import { ropeInverseFrequencies } from '../src/kernels/rope.js';
import { expectClose } from './support/close.js';
import { expectNumpyCase } from './support/numpy-cases.js';

interface PythonScaling {
  rope_dim: number;
  base: number;
  factor: number;
  original: number;
  seq_len: number;
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/dynamic-ntk-numpy.json', import.meta.url), 'utf8')) as {
  frequencies: { name: string; scaling: PythonScaling; ropeFrequencies: number[] }[];
  cases: { name: string; scaling: PythonScaling; options: { dim: number; heads: number; kvHeads: number; headDim: number }; x: number[][]; weights: AttentionWeights; outputs: number[][] }[];
};

/** The fixture's Python keyword arguments as dynamicNtkRopeFrequencies' fields. */
function scalingOf({ rope_dim: ropeDim, base: ropeBase, factor, original, seq_len: contextLength }: PythonScaling): DynamicNtkRopeScaling {
  return { ropeDim, ropeBase, factor, originalMaxPositionEmbeddings: original, contextLength };
}

const scaling = fc.record({
  ropeDim: fc.integer({ min: 2, max: 96 }).map((h) => 2 * h),
  ropeBase: fc.double({ min: 2, max: 1e7, noNaN: true }),
  factor: fc.double({ min: 0.25, max: 64, noNaN: true }),
  originalMaxPositionEmbeddings: fc.integer({ min: 1, max: 131072 }),
  contextLength: fc.integer({ min: 1, max: 1 << 22 }),
});

describe('dynamicNtkRopeFrequencies: Hugging Face rope_scaling "dynamic"', () => {
  it.each(fixture.frequencies.map((f) => [f.name, f] as const))("%s: the numpy fixture's speeds within 1e-14 (scripts/reference/dynamic_ntk.py)", (_, f) => {
    expectClose(dynamicNtkRopeFrequencies(scalingOf(f.scaling)), f.ropeFrequencies, 1e-14);
  });

  it('runs attention over a sequence past the original context as one Hugging Face forward pass over it does (numpy; every path, expectNumpyCase)', () => {
    const c = fixture.cases[0]!;
    expectNumpyCase({ ...c, options: { ...c.options, positions: 'rope', ropeFrequencies: dynamicNtkRopeFrequencies(scalingOf(c.scaling)) } });
  });

  it("is plain RoPE up to the original context; past it, plain RoPE over the grown base, every speed slower, the slowest most", () => {
    fc.assert(
      fc.property(scaling, (s) => {
        const plain = ropeInverseFrequencies(s.ropeDim, s.ropeBase);
        const speeds = dynamicNtkRopeFrequencies(s);
        expect(speeds).toHaveLength(s.ropeDim / 2);
        const length = Math.max(s.contextLength, s.originalMaxPositionEmbeddings);
        const grown = s.ropeBase * ((s.factor * length) / s.originalMaxPositionEmbeddings - (s.factor - 1)) ** (s.ropeDim / (s.ropeDim - 2));
        expectClose(speeds, ropeInverseFrequencies(s.ropeDim, grown), 1e-14);
        if (s.contextLength <= s.originalMaxPositionEmbeddings) expectClose(speeds, plain, 1e-15);
        else {
          // The first pair keeps its speed 1; the others slow down by (grown / base)^(2m / ropeDim).
          expect(speeds[0]).toBe(1);
          speeds.forEach((f, m) => expect(f).toBeLessThanOrEqual(plain[m]! * (1 + 1e-15)));
          for (let m = 2; m < speeds.length; m++) expect(speeds[m]! / plain[m]!).toBeLessThanOrEqual((speeds[m - 1]! / plain[m - 1]!) * (1 + 1e-12));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('refuses what the formula cannot take, naming the field', () => {
    const config: DynamicNtkRopeScaling = { ropeDim: 128, ropeBase: 10000, factor: 2, originalMaxPositionEmbeddings: 4096, contextLength: 16384 };
    const bad: [Partial<Record<keyof DynamicNtkRopeScaling, unknown>>, string][] = [
      [{ ropeDim: 2 }, 'ropeDim'],
      [{ ropeDim: 9 }, 'ropeDim'],
      // Found by a resource hunt: 2³² + 4 gave 2 frequencies (ropeDim >> 1 wrapped), 2²⁸ took 10 s and 1 GiB.
      [{ ropeDim: 2 ** 32 + 4 }, 'ropeDim'],
      [{ ropeDim: 2 ** 28 }, 'ropeDim'],
      [{ ropeBase: 1 }, 'ropeBase'],
      [{ factor: 0 }, 'factor'],
      [{ originalMaxPositionEmbeddings: -5 }, 'originalMaxPositionEmbeddings'],
      [{ contextLength: 0 }, 'contextLength'],
      [{ contextLength: 2.5 }, 'contextLength'],
      [{ ropeDim: 4, factor: 1e300, contextLength: 1e9 }, 'contextLength'],
    ];
    for (const [change, field] of bad) {
      expect(() => dynamicNtkRopeFrequencies({ ...config, ...change } as DynamicNtkRopeScaling), field).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: expect.objectContaining({ field }) }));
    }
  });
});
