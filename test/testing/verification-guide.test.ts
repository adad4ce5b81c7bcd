import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AttentionOptions, AttentionStep } from '../../src/index.js';
import { checkCacheLaws, checkIncremental } from '../../src/testing/index.js';
import { naiveAttention } from './naive-attention.js';
import { seedModeKernelOptions } from './seed-mode-kernel-options.js';
import { verificationFailure } from './verification-failure.js';

// The walkthrough in docs/guides/verification.md, run as written: its kernel, its check, and the
// message it prints, so the guide cannot drift from what the kit really says.

const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, c) => s + v * b[c]!, 0);

/** The guide's kernel: single-head sliding-window attention, q = k = v = x. */
function slidingWindow(options: AttentionOptions, wide: boolean) {
  const window = options.window ?? Infinity;
  const scale = options.scale ?? 1;
  const tokens: number[][] = [];
  return {
    push(x: readonly number[]): AttentionStep[] {
      tokens.push([...x]);
      const i = tokens.length - 1;
      const keys = tokens.filter((_, j) => (wide ? j >= i - window : j > i - window));
      const scores = keys.map((k) => scale * dot(x, k));
      const max = Math.max(...scores);
      const exps = scores.map((s) => Math.exp(s - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      const output = x.map((_, c) => keys.reduce((a, k, n) => a + (exps[n]! / sum) * k[c]!, 0));
      return [{ index: i, output: Float64Array.from(output) }];
    },
    flush: (): AttentionStep[] => [],
  };
}

/** The guide's narrowing of the options to what its kernel supports. */
const whatMyKernelSupports = seedModeKernelOptions('float64');

/** The text block that follows `marker` in the guide. */
function shownAfter(marker: string): string {
  const guide = readFileSync(new URL('../../docs/guides/verification.md', import.meta.url), 'utf8');
  const rest = guide.slice(guide.indexOf(marker));
  return rest.slice(rest.indexOf('```text\n') + 8, rest.indexOf('\n```', rest.indexOf('```text\n')));
}

describe('the verification guide', () => {
  it('shows the message the kit prints for the window one too wide', () => {
    const error = verificationFailure(() => checkIncremental((options) => slidingWindow(options, true), { optionsArbitrary: whatMyKernelSupports, seed: 42 }));
    expect(shownAfter('<!-- message: window one too wide -->')).toBe(error.message);
  });

  it('and the fixed kernel passes', () => {
    checkIncremental((options) => slidingWindow(options, false), { optionsArbitrary: whatMyKernelSupports });
  });

  it('shows the message checkCacheLaws prints for a fork that shares the cache', () => {
    const error = verificationFailure(() => checkCacheLaws((options) => naiveAttention(options, 'fork-shares-cache'), { seed: 1 }));
    expect(shownAfter('<!-- message: fork shares the cache -->')).toBe(error.message);
  });
});
