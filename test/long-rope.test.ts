import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { longRope } from '../src/index.js';
import type { AttentionWeights, LongRopeScaling } from '../src/index.js';
import { ropeInverseFrequencies } from '../src/kernels/rope.js';
import { expectClose } from './support/close.js';
import { expectNumpyCase } from './support/numpy-cases.js';

interface PythonScaling {
  rope_dim: number;
  base: number;
  factor: number;
  original: number;
  short_factor: number[];
  long_factor: number[];
  seq_len: number;
  attention_factor?: number;
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/long-rope-numpy.json', import.meta.url), 'utf8')) as {
  frequencies: { name: string; scaling: PythonScaling; ropeFrequencies: number[]; attentionFactor: number }[];
  cases: { name: string; scaling: PythonScaling; options: { dim: number; heads: number; kvHeads: number; headDim: number }; x: number[][]; weights: AttentionWeights; outputs: number[][] }[];
};

/** The fixture's Python keyword arguments as longRope's fields (seq_len: the context the engine runs to). */
function scalingOf(p: PythonScaling): LongRopeScaling {
  const { rope_dim: ropeDim, base: ropeBase, factor, original, short_factor: shortFactor, long_factor: longFactor, seq_len: contextLength } = p;
  const given = p.attention_factor === undefined ? {} : { attentionFactor: p.attention_factor };
  return { ropeDim, ropeBase, factor, originalMaxPositionEmbeddings: original, shortFactor, longFactor, contextLength, ...given };
}

const divisors = (count: number) => fc.array(fc.double({ min: 0.01, max: 1000, noNaN: true }), { minLength: count, maxLength: count });

const scaling = fc
  .record({
    half: fc.integer({ min: 1, max: 64 }),
    ropeBase: fc.double({ min: 2, max: 1e7, noNaN: true }),
    factor: fc.double({ min: 0.5, max: 64, noNaN: true }),
    originalMaxPositionEmbeddings: fc.integer({ min: 2, max: 131072 }),
    over: fc.integer({ min: -131071, max: 131072 }),
  })
  .chain(({ half, over, ...s }) =>
    fc.record({ shortFactor: divisors(half), longFactor: divisors(half) }).map(
      (lists): LongRopeScaling => ({ ...s, ...lists, ropeDim: 2 * half, contextLength: Math.max(1, s.originalMaxPositionEmbeddings + over) }),
    ),
  );

describe('longRope: Hugging Face rope_scaling "longrope" (Phi-3)', () => {
  it.each(fixture.frequencies.map((f) => [f.name, f] as const))("%s: the numpy fixture's speeds within 1e-15 and its attention factor (scripts/reference/long_rope.py)", (_, f) => {
    const { ropeFrequencies, attentionFactor } = longRope(scalingOf(f.scaling));
    expectClose(ropeFrequencies, f.ropeFrequencies, 1e-15);
    expect(attentionFactor).toBeCloseTo(f.attentionFactor, 15);
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: attention as Hugging Face runs it, cos and sin times the attention factor: scale attentionFactor² / √headDim (numpy; every path, expectNumpyCase)',
    (_, c) => {
      const { ropeFrequencies, attentionFactor } = longRope(scalingOf(c.scaling));
      const scale = attentionFactor ** 2 / Math.sqrt(c.options.headDim);
      expectNumpyCase({ ...c, options: { ...c.options, positions: 'rope', ropeFrequencies, scale } });
    },
  );

  it('divides each speed by its factor, the long ones past the original context and the short ones up to it; the attention factor √(1 + ln factor / ln original)', () => {
    fc.assert(
      fc.property(scaling, (s) => {
        const plain = ropeInverseFrequencies(s.ropeDim, s.ropeBase);
        const { ropeFrequencies, attentionFactor } = longRope(s);
        const used = s.contextLength > s.originalMaxPositionEmbeddings ? s.longFactor : s.shortFactor;
        expect(ropeFrequencies).toHaveLength(s.ropeDim / 2);
        plain.forEach((f, m) => expectClose([ropeFrequencies[m]! * used[m]!], [f], 1e-15, `pair ${m}`));
        const expected = s.factor <= 1 ? 1 : Math.sqrt(1 + Math.log(s.factor) / Math.log(s.originalMaxPositionEmbeddings));
        expect(attentionFactor).toBeCloseTo(expected, 14);
        // The boundary: the original context itself keeps the short factors, one more token takes the long ones.
        const at = longRope({ ...s, contextLength: s.originalMaxPositionEmbeddings });
        const past = longRope({ ...s, contextLength: s.originalMaxPositionEmbeddings + 1 });
        plain.forEach((f, m) => {
          expectClose([at.ropeFrequencies[m]!], [f / s.shortFactor[m]!], 1e-15);
          expectClose([past.ropeFrequencies[m]!], [f / s.longFactor[m]!], 1e-15);
        });
        expect(longRope({ ...s, attentionFactor: 0.75 }).attentionFactor).toBe(0.75);
      }),
      { numRuns: 200 },
    );
  });

  it('takes its factor lists as any Vector, as every other list option, typed arrays too', () => {
    // Found by a types hunt: typed readonly number[], though the runtime reads any array-like.
    const lists = { ropeDim: 8, ropeBase: 10000, factor: 32, originalMaxPositionEmbeddings: 4096, contextLength: 8192 };
    const typed = longRope({ ...lists, shortFactor: new Float64Array([1, 1, 1, 1]), longFactor: Float32Array.of(1, 2, 4, 8) });
    expect(typed).toEqual(longRope({ ...lists, shortFactor: [1, 1, 1, 1], longFactor: [1, 2, 4, 8] }));
  });

  it('refuses what the formula cannot take, naming the field, whichever list the length picks', () => {
    const phi3: LongRopeScaling = {
      ropeDim: 8, ropeBase: 10000, factor: 32, originalMaxPositionEmbeddings: 4096,
      shortFactor: [1, 1, 1, 1], longFactor: [1, 2, 4, 8], contextLength: 8192,
    };
    const bad: [Partial<Record<keyof LongRopeScaling, unknown>>, string, RegExp?][] = [
      [{ ropeDim: 7 }, 'ropeDim'],
      [{ ropeBase: 0.5 }, 'ropeBase'],
      [{ factor: -1 }, 'factor'],
      [{ originalMaxPositionEmbeddings: 0 }, 'originalMaxPositionEmbeddings'],
      // Found by a bug hunt: ln 1 = 0 made the attention factor Infinity, and 0.5 gave NaN.
      [{ originalMaxPositionEmbeddings: 1, contextLength: 8 }, 'originalMaxPositionEmbeddings', /must be greater than 1 with a factor above 1/],
      [{ originalMaxPositionEmbeddings: 0.5 }, 'originalMaxPositionEmbeddings', /must be greater than 1 .* got 0.5/],
      [{ contextLength: 1.5 }, 'contextLength'],
      [{ contextLength: 0 }, 'contextLength'],
      [{ longFactor: 'x' }, 'longFactor'],
      [{ longFactor: [1, 2, 0, 8] }, 'longFactor', /element 2 must be a finite number > 0, got 0/],
      [{ shortFactor: [1, 1, Number.NaN, 1] }, 'shortFactor', /element 2 .*NaN/],
      [{ shortFactor: [1, 1, 1, 1], contextLength: 100, longFactor: [1, 2, Infinity, 8] }, 'longFactor', /element 2 .*Infinity/],
      [{ attentionFactor: 0 }, 'attentionFactor'],
      // Found by an errors.md audit: a divisor too small for the speed was blamed on factor.
      [{ longFactor: [5e-324, 1, 1, 1] }, 'longFactor', /gives pair 0 the rotation speed Infinity/],
    ];
    for (const [change, field, message = /./] of bad) {
      const call = () => longRope({ ...phi3, ...change } as LongRopeScaling);
      expect(call, field).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: expect.objectContaining({ field }) }));
      expect(call, field).toThrow(message);
    }
    // A list of the wrong length, as any vector of the wrong length, whichever list the length picks.
    for (const change of [{ longFactor: [1, 2, 4] }, { shortFactor: [1, 1, 1, 1, 1] }]) {
      const field = Object.keys(change)[0]!;
      expect(() => longRope({ ...phi3, ...change })).toThrow(
        expect.objectContaining({ code: 'DIMENSION_MISMATCH', details: expect.objectContaining({ field, expected: 4 }) }),
      );
    }
    expect(() => longRope(undefined as unknown as LongRopeScaling)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });
});
