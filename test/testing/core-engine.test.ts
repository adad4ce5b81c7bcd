import { describe, it } from 'vitest';
import { createAttention, restoreAttention } from '../../src/index.js';
import { attentionOptionsArbitrary, checkCacheLaws, checkIncremental } from '../../src/testing/index.js';

// Dogfooding: the core engine is checked by the same kit users run against their own code.
describe('the core engine passes its own verification kit', () => {
  it('equals the reference for every option, in float64, within 1e-12 beyond the rounding of each score (the kit\'s default for others is 1e-9)', () => {
    checkIncremental(createAttention, { numRuns: 300, tolerance: 1e-12, optionsArbitrary: attentionOptionsArbitrary({ precision: 'float64', softmaxVariants: true }) });
  });

  it('equals the reference for every option, in float32, including scores beyond float32 resolution', () => {
    checkIncremental(createAttention, { numRuns: 300, optionsArbitrary: attentionOptionsArbitrary({ precision: 'float32', softmaxVariants: true, halfWeights: true }) });
  });

  it('and in float32 on the TypeScript kernels too (kernels: \'js\'), scores beyond float32 resolution included', () => {
    checkIncremental((options) => createAttention({ ...options, kernels: 'js' }), { numRuns: 300, optionsArbitrary: attentionOptionsArbitrary({ precision: 'float32', softmaxVariants: true, halfWeights: true }) });
  });

  it('keeps the laws of fork, truncate, snapshot/restore and dispose', () => {
    checkCacheLaws(createAttention, { numRuns: 200, restore: restoreAttention, optionsArbitrary: attentionOptionsArbitrary({ softmaxVariants: true, halfWeights: true }) });
  });
});
