import type { Arbitrary } from 'fast-check';
import type { AttentionOptions } from '../../src/index.js';
import { attentionOptionsArbitrary } from '../../src/testing/index.js';

/**
 * The options a hand-written single-head seed-mode kernel with windows supports (no projections,
 * positions, sinks, look-ahead or weights), in one precision: the narrowing the verification
 * guide's walkthrough writes out, and a float32-only kernel's user would write.
 */
export function seedModeKernelOptions(precision: 'float32' | 'float64'): Arbitrary<AttentionOptions> {
  return attentionOptionsArbitrary({
    precision,
    projections: false,
    maxHeads: 1,
    positions: ['none'],
    maxSinks: 0,
    maxLookahead: 0,
    withWeights: false,
  });
}
