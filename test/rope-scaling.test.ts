import { describe, expect, it } from 'vitest';
import { dynamicNtkRopeFrequencies, llama3RopeFrequencies, longRope, yarnRope } from '../src/index.js';

// What every rope_scaling helper shares (src/attention/rope-scaling.ts).
describe('the rope_scaling helpers', () => {
  const basics = { ropeDim: 8, ropeBase: 10000, factor: 4, originalMaxPositionEmbeddings: 64 };
  const helpers: [string, (extra: object) => unknown][] = [
    ['yarnRope', (extra) => yarnRope({ ...basics, ...extra })],
    ['longRope', (extra) => longRope({ ...basics, shortFactor: [1, 1, 1, 1], longFactor: [2, 2, 2, 2], contextLength: 10, ...extra })],
    ['llama3RopeFrequencies', (extra) => llama3RopeFrequencies({ ...basics, lowFreqFactor: 1, highFreqFactor: 4, ...extra })],
    ['dynamicNtkRopeFrequencies', (extra) => dynamicNtkRopeFrequencies({ ...basics, contextLength: 100, ...extra })],
  ];

  it.each(helpers)('%s refuses a field it does not know, naming it (a config.json name in snake_case is told its camelCase one)', (_, make) => {
    expect(make({})).toBeDefined();
    // Found by a positions audit: yarnRope took { mscale_all_dim: 1 } without a word and left mscaleAllDim unset.
    for (const [extra, field] of [[{ attention_factor: 1 }, 'attention_factor'], [{ typo: 1 }, 'typo']] as const) {
      expect(() => make(extra)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: expect.objectContaining({ field }) }));
    }
  });

  it('the hint names the camelCase field where there is one', () => {
    expect(() => yarnRope({ ...basics, ...{ mscale: 1, mscale_all_dim: 1 } })).toThrow(/the config's mscale_all_dim is mscaleAllDim here/);
    expect(() => yarnRope({ ...basics, ...{ beta_fast: 8 } })).toThrow(/beta_fast is betaFast here/);
    // rope_type has no camelCase field: no hint.
    expect(() => llama3RopeFrequencies({ ...basics, lowFreqFactor: 1, highFreqFactor: 4, ...{ rope_type: 'llama3' } })).toThrow(/^option rope_type is not a field of this scaling \(known: /);
  });
});
