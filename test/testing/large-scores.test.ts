import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAttention } from '../../src/index.js';
import type { AttentionOptions, AttentionStep, Vector } from '../../src/index.js';
import { attentionOptionsArbitrary, checkIncremental } from '../../src/testing/index.js';
import type { CheckIncrementalParameters, IncrementalAttention } from '../../src/testing/index.js';
import { seedModeKernelOptions } from './seed-mode-kernel-options.js';
import { verificationFailure } from './verification-failure.js';

// At scores of 1e8 float32 cannot resolve differences of about a hundred, so honest float32
// engines may disagree about keys that close; but a key 1e6 or 1e7 below the best has weight 0 in
// every honest engine. These tests pin down that the kit allows the first and nothing more: what a
// float32-only kernel (WebAssembly, WebGPU), narrowed to float32 options, is checked against.

/** What a hand-written float32 kernel gets wrong once its scores are large. */
type LargeScoreBug = 'negated' | 'uniform' | 'second-best' | 'clamped';

/**
 * Single-head seed-mode attention (q = k = v = x) computed in float32 throughout: every product,
 * sum, exponential and quotient rounded, as a native float32 kernel does. `bug` applies once the
 * best score of a query passes 1e6 ('clamped': always, exp(min(s, 80)) instead of exp(s − max)).
 */
function float32Kernel(bug: LargeScoreBug | null) {
  return (options: AttentionOptions): IncrementalAttention => {
    const r = Math.fround;
    const window = options.window ?? Infinity;
    const scale = r(options.scale ?? 1); // seed mode: no 1/√headDim
    const tokens: number[][] = [];
    const step = (i: number): AttentionStep => {
      const keys = tokens.map((_, j) => j).filter((j) => j <= i && j > i - window);
      const q = tokens[i]!;
      const scores = keys.map((j) => r(scale * q.reduce((s, v, c) => r(s + r(v * tokens[j]![c]!)), 0)));
      const max = Math.max(...scores);
      const large = max > 1e6;
      let exps = scores.map((s) => r(Math.exp(bug === 'clamped' ? Math.min(s, 80) : r(s - max))));
      if (bug === 'uniform' && large) exps = exps.map(() => 1);
      if (bug === 'second-best' && large && keys.length > 1) {
        const second = scores.map((_, n) => n).sort((a, b) => scores[b]! - scores[a]!)[1]!;
        exps = exps.map((_, n) => (n === second ? 1 : 0));
      }
      const sum = exps.reduce((a, b) => r(a + b), 0);
      const output = q.map((_, c) => keys.reduce((a, j, n) => r(a + r(r(exps[n]! / sum) * tokens[j]![c]!)), 0));
      return { index: i, output: Float32Array.from(bug === 'negated' && large ? output.map((v) => -v) : output) };
    };
    return {
      push: (x: Vector) => {
        tokens.push(Array.from(x, r));
        return [step(tokens.length - 1)];
      },
      flush: () => [],
    };
  };
}

/** What the kernel supports, and only float32, as a float32-only kernel's user narrows it. */
const float32Only = seedModeKernelOptions('float32');

const large: CheckIncrementalParameters = { optionsArbitrary: float32Only, sequence: { magnitude: 1e4 } };

describe('checkIncremental at scores beyond float32 resolution (float32-only options)', () => {
  it('passes an honest float32 kernel, at default magnitudes and at 1e4 (scores up to 1e8)', () => {
    checkIncremental(float32Kernel(null), { optionsArbitrary: float32Only, numRuns: 200 });
    checkIncremental(float32Kernel(null), { ...large, numRuns: 200 });
  });

  it('passes the core engine on both kernel paths at 1e4, every option drawn', () => {
    const everyOption = { optionsArbitrary: attentionOptionsArbitrary({ precision: 'float32' }), sequence: { magnitude: 1e4 }, numRuns: 150 };
    checkIncremental(createAttention, everyOption);
    checkIncremental((options) => createAttention({ ...options, kernels: 'js' }), everyOption);
  });

  describe('catches a kernel that, once scores are large,', () => {
    it('negates its output: two tokens or fewer, output off by twice its size', () => {
      const { mismatch, counterexample } = verificationFailure(() => checkIncremental(float32Kernel('negated'), large));
      expect(mismatch.kind).toBe('output');
      expect(counterexample.inputs!.length).toBeLessThanOrEqual(2);
      const at = mismatch.element!;
      expect(mismatch.actual![at]).toBeCloseTo(-mismatch.expected![at]!, 0);
    });

    it('averages the keys uniformly', () => {
      expect(verificationFailure(() => checkIncremental(float32Kernel('uniform'), large)).mismatch.kind).toBe('output');
    });

    it('puts all weight on the second-best key', () => {
      const { mismatch, counterexample } = verificationFailure(() => checkIncremental(float32Kernel('second-best'), large));
      expect(mismatch.kind).toBe('output');
      expect(counterexample.inputs!.length).toBeGreaterThanOrEqual(2);
    });

    it('clamps scores at 80 instead of subtracting the max', () => {
      expect(verificationFailure(() => checkIncremental(float32Kernel('clamped'), large)).mismatch.kind).toBe('output');
    });

    it('and the default sequences (magnitudes 1, 100, 1e4) find each of them too', () => {
      for (const bug of ['negated', 'uniform', 'second-best', 'clamped'] as const) {
        expect(verificationFailure(() => checkIncremental(float32Kernel(bug), { optionsArbitrary: float32Only })).mismatch.kind).toBe('output');
      }
    });
  });

  it('a near-tie within float32’s rounding is free: giving the tied keys’ weight to the newest passes in float32, not in float64', () => {
    // Inputs of 0 or ±1e4 in two dimensions: scores 0 or ±1e8, often tied exactly between
    // different values ([1e4, 1e4] and [1e4, −1e4] against [1e4, 0]). At these norms float32 may
    // round a score by about a hundred, so an honest float32 engine may split such a tie any way;
    // float64 may not. (A zero query scores every key exactly 0 in any precision: no freedom.)
    const newestWinsTies = (): IncrementalAttention => {
      const tokens: number[][] = [];
      const push = (input: Vector): AttentionStep[] => {
        const x = Array.from(input);
        tokens.push(x);
        const scores = tokens.map((k) => x.reduce((s, v, c) => s + v * k[c]!, 0));
        const best = Math.max(...scores);
        const tied = tokens.filter((_, j) => scores[j]! >= best - 1);
        const output = x.every((v) => v === 0) ? tied.reduce((a, k) => a.map((v, c) => v + k[c]! / tied.length), [0, 0]) : tied.at(-1)!;
        return [{ index: tokens.length - 1, output: Float64Array.from(output) }];
      };
      return { push, flush: () => [] };
    };
    const ties = (precision: 'float32' | 'float64'): CheckIncrementalParameters => ({
      optionsArbitrary: fc.constant({ dim: 2, precision }),
      sequence: { minLength: 2, maxLength: 4, magnitude: 1e4, steps: 1 },
    });
    checkIncremental(newestWinsTies, { ...ties('float32'), numRuns: 300 });
    const { mismatch } = verificationFailure(() => checkIncremental(newestWinsTies, ties('float64')));
    expect(mismatch.kind).toBe('output');
  });
});
