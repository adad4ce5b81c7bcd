import { describe, expect, it } from 'vitest';
import type { AttentionOptions } from '../../src/index.js';
import { checkIncremental } from '../../src/testing/index.js';
import type { VerificationError } from '../../src/testing/index.js';
import { naiveAttention } from './naive-attention.js';
import type { Bug } from './naive-attention.js';
import { verificationFailure } from './verification-failure.js';

// Each check below runs with the default options arbitrary and the default number of runs: the
// kit has to find these bugs on its own, then shrink them to a case a person can read.

/** The shrunk counterexample of checkIncremental against the naive engine with `bug`. */
function caught(bug: Bug): VerificationError {
  const error = verificationFailure(() => checkIncremental((options) => naiveAttention(options, bug)));
  const { options, inputs } = error.counterexample;
  expect(inputs!.length).toBeLessThanOrEqual(4);
  expect(options.dim).toBeLessThanOrEqual(4);
  expect(options.heads ?? 1).toBeLessThanOrEqual(4);
  expect(error.message).toContain('Shrunk counterexample');
  return error;
}

const largest = (inputs: readonly (readonly number[])[]): number => Math.max(...inputs.flat().map(Math.abs));

describe('checkIncremental catches deliberately broken implementations and shrinks them to small cases', () => {
  it('passes the naive engine without a bug, so each failure below is its one bug', () => {
    checkIncremental((options) => naiveAttention(options));
  });

  it('softmax without max-subtraction: caught at large magnitudes as a non-finite output', () => {
    const error = caught('softmax-without-max');
    expect(error.mismatch.kind).toBe('non-finite');
    // exp overflows past 709: inputs of 1 cannot get there (next test), tens can.
    expect(largest(error.counterexample.inputs!)).toBeGreaterThanOrEqual(10);
  });

  it('softmax without max-subtraction passes when inputs stay at magnitude 1: the large magnitudes are what find it', () => {
    checkIncremental((options) => naiveAttention(options, 'softmax-without-max'), { sequence: { magnitude: 1 } });
  });

  it('off-by-one causal mask (the newest key left out): one token suffices', () => {
    const error = caught('causal-off-by-one');
    expect(error.counterexample.inputs).toHaveLength(1);
    // The token attends no key: reported as a wrong output or, for about 1 seed in 300, as the
    // wrong attended positions (the test failed now and then when it demanded the first).
    expect(error.mismatch).toMatchObject({ token: 0 });
    expect(['output', 'positions']).toContain(error.mismatch.kind);
  });

  it('wrong GQA head mapping (h mod kvHeads): caught with several kv heads, each shared', () => {
    const { options } = caught('gqa-head-mapping').counterexample;
    const heads = options.heads ?? 1;
    const kvHeads = options.kvHeads ?? heads;
    expect(kvHeads).toBeGreaterThanOrEqual(2);
    expect(heads / kvHeads).toBeGreaterThanOrEqual(2);
  });

  it('RoPE applied to values: caught with RoPE, from the second token on', () => {
    const error = caught('rope-on-values');
    expect(error.counterexample.options.positions).toBe('rope');
    expect(error.mismatch.token).toBeGreaterThanOrEqual(1);
  });

  it('window one too wide: caught with a window shorter than the sequence', () => {
    const { options, inputs } = caught('window-too-wide').counterexample;
    expect(options.window).toBeDefined();
    expect(inputs!.length).toBeGreaterThan(options.window!);
  });

  it('scale applied twice: caught where the scale is not 1, with two keys or more', () => {
    const error = caught('scale-twice');
    const options: AttentionOptions = error.counterexample.options;
    const headDim = options.headDim ?? options.dim / (options.heads ?? 1);
    const scale = options.scale ?? (options.weights === undefined ? 1 : 1 / Math.sqrt(headDim));
    expect(scale).not.toBe(1);
    expect(error.counterexample.inputs!.length).toBeGreaterThanOrEqual(2);
  });
});
