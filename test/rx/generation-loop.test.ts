import fc from 'fast-check';
import { lastValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createAttention } from '../../src/index.js';
import type { Attention } from '../../src/index.js';
import {
  createDecoder,
  createLayerEngines,
  DEFAULT_CONFIG,
  generateTokens,
  generateWithoutCache,
  main,
  VOCABULARY,
} from '../../examples/generation-loop.js';
import type { DecoderConfig, GeneratedToken, LayerEngineFactory } from '../../examples/generation-loop.js';
import { expectClose } from '../support/close.js';

const configArbitrary: fc.Arbitrary<DecoderConfig> = fc
  .record({
    shape: fc.constantFrom({ heads: 4, kvHeads: 2 }, { heads: 4, kvHeads: 4 }, { heads: 4, kvHeads: 1 }, { heads: 2, kvHeads: 1 }),
    layers: fc.integer({ min: 1, max: 3 }),
    window: fc.option(fc.integer({ min: 2, max: 6 }), { nil: undefined }),
    seed: fc.integer(),
  })
  .map(({ shape, layers, window, seed }) => ({ ...DEFAULT_CONFIG, ...shape, layers, seed, ...(window === undefined ? {} : { window }) }));

const promptArbitrary = fc.array(fc.integer({ min: 0, max: VOCABULARY.length - 1 }), { minLength: 1, maxLength: 5 });

async function cachedRun(config: DecoderConfig, prompt: number[], count: number, makeEngines?: LayerEngineFactory): Promise<GeneratedToken[]> {
  return lastValueFrom(generateTokens(createDecoder(config), prompt, count, makeEngines).pipe(toArray()));
}

function expectSameGeneration(cached: GeneratedToken[], recomputed: GeneratedToken[]): void {
  expect(cached.map((t) => t.token)).toEqual(recomputed.map((t) => t.token));
  cached.forEach((t, n) => expectClose(t.logits, recomputed[n]!.logits, 1e-9, `logits of generated token ${n}`));
}

describe('generation with a cache equals recomputing the whole prefix at every step', () => {
  it('for random seeded decoders (1-3 layers, GQA, RoPE, with and without a window), prompts and lengths', async () => {
    await fc.assert(
      fc.asyncProperty(configArbitrary, promptArbitrary, fc.integer({ min: 1, max: 16 }), async (config, prompt, count) => {
        const cached = await cachedRun(config, prompt, count);
        expect(cached).toHaveLength(count);
        expectSameGeneration(cached, generateWithoutCache(createDecoder(config), prompt, count));
      }),
      { numRuns: 40 },
    );
  });

  it('the check catches a cache that forgets: engines that keep only the newest token generate differently', async () => {
    const forgetful: LayerEngineFactory = (decoder) => decoder.layers.map((layer) => createAttention({ ...layer.attention, window: 1 }));
    const prompt = [0, 2, 4];
    const cached = await cachedRun(DEFAULT_CONFIG, prompt, 12, forgetful);
    const recomputed = generateWithoutCache(createDecoder(DEFAULT_CONFIG), prompt, 12);
    expect(() => expectSameGeneration(cached, recomputed)).toThrow();
  });

  it('each layer has its own engine, which caches the prompt and every generated token but the last, and is disposed at the end', async () => {
    const made: { engine: Attention; appended: number; disposed: boolean }[] = [];
    const watching: LayerEngineFactory = (decoder) =>
      createLayerEngines(decoder).map((engine) => {
        const record = { engine, appended: 0, disposed: false };
        engine.addCacheListener((event) => {
          if (event.type === 'append') record.appended++;
          if (event.type === 'dispose') record.disposed = true;
        });
        made.push(record);
        return engine;
      });
    await cachedRun(DEFAULT_CONFIG, [0, 2, 4], 5, watching);
    expect(made).toHaveLength(DEFAULT_CONFIG.layers);
    expect(new Set(made.map((m) => m.engine)).size).toBe(DEFAULT_CONFIG.layers);
    // 3 prompt tokens, then 4 of the 5 picks are fed back (the last pick is never pushed).
    expect(made.map((m) => m.appended)).toEqual(made.map(() => 3 + 4));
    expect(made.every((m) => m.disposed)).toBe(true);
  });

  it('take(n) stops generation after n tokens', async () => {
    const tokens = await lastValueFrom(generateTokens(createDecoder(DEFAULT_CONFIG), [0], 1000).pipe(take(3), toArray()));
    expect(tokens).toHaveLength(3);
  });
});

describe('examples/generation-loop.ts', () => {
  it('main() generates the same text with and without the cache, and the same text on every run', async () => {
    const first = await main();
    const again = await main();
    expect(first.cached).toHaveLength(12);
    expect(first.cached).toEqual(first.recomputed);
    expect(first.maxLogitDifference).toBeLessThan(1e-9);
    expect(again).toEqual(first);
    for (const word of first.cached) expect(VOCABULARY).toContain(word);
  });
});
