import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { lastValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import ts from 'typescript';
import { createAttentionStack, createLinear } from '../../src/index.js';
import type { Attention, AttentionStack } from '../../src/index.js';
import {
  beamSearch,
  CachedDecoder,
  createDecoder,
  createDecoderStack,
  DEFAULT_CONFIG,
  draftOf,
  generateSpeculatively,
  generateTokens,
  generateWithoutCache,
  logitsWithoutCache,
  main,
  report,
  speculativeStep,
  VOCABULARY,
} from '../../examples/generation-loop.js';
import type { Beam, Decoder, DecoderConfig, DecoderStackFactory, GeneratedToken } from '../../examples/generation-loop.js';
import { expectClose } from '../support/close.js';

// Prompt and generated tokens stay under one 64-token block, so a window never evicts what a
// rollback needs: windowed decoders are fair game for every property here.
const configArbitrary: fc.Arbitrary<DecoderConfig> = fc
  .record({
    shape: fc.constantFrom({ heads: 4, kvHeads: 2 }, { heads: 4, kvHeads: 4 }, { heads: 4, kvHeads: 1 }, { heads: 2, kvHeads: 1 }),
    layers: fc.integer({ min: 1, max: 3 }),
    window: fc.option(fc.integer({ min: 2, max: 6 }), { nil: undefined }),
    seed: fc.integer(),
  })
  .map(({ shape, layers, window, seed }) => ({ ...DEFAULT_CONFIG, ...shape, layers, seed, ...(window === undefined ? {} : { window }) }));

const tokenArbitrary = fc.integer({ min: 0, max: VOCABULARY.length - 1 });
const promptArbitrary = fc.array(tokenArbitrary, { minLength: 1, maxLength: 5 });

async function cachedRun(config: DecoderConfig, prompt: number[], count: number, makeStack?: DecoderStackFactory): Promise<GeneratedToken[]> {
  return lastValueFrom(generateTokens(createDecoder(config), prompt, count, makeStack).pipe(toArray()));
}

function expectSameGeneration(cached: GeneratedToken[], recomputed: GeneratedToken[]): void {
  expect(cached.map((t) => t.token)).toEqual(recomputed.map((t) => t.token));
  cached.forEach((t, n) => expectClose(t.logits, recomputed[n]!.logits, 1e-9, `logits of generated token ${n}`));
}

/** log p(token) by the textbook formula log(e^l / Σ e^l), independent of the example's shifted log-softmax. */
function logProbability(logits: Float64Array, token: number): number {
  let total = 0;
  for (const value of logits) total += Math.exp(value);
  return Math.log(Math.exp(logits[token]!) / total);
}

function layersOf(stack: AttentionStack): Attention[] {
  return Array.from({ length: stack.depth }, (_, i) => stack.layer(i));
}

/** A stack factory that records every stack made from it or forked from those. */
function recordingStacks(made: AttentionStack[]): DecoderStackFactory {
  const watch = (stack: AttentionStack): AttentionStack => {
    made.push(stack);
    return {
      get depth() {
        return stack.depth;
      },
      get length() {
        return stack.length;
      },
      get disposed() {
        return stack.disposed;
      },
      layer: (i) => stack.layer(i),
      fork: () => watch(stack.fork()),
      truncate: (n) => stack.truncate(n),
      snapshot: () => stack.snapshot(),
      stats: () => stack.stats(),
      reset: () => stack.reset(),
      dispose: () => stack.dispose(),
    };
  };
  return (decoder) => watch(createDecoderStack(decoder));
}

/** The model on a fresh stack holding `tokens`. */
function fedModel(decoder: Decoder, tokens: readonly number[]): CachedDecoder {
  const model = new CachedDecoder(decoder, createDecoderStack(decoder));
  model.pushTokens(tokens);
  return model;
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
    const forgetful: DecoderStackFactory = (decoder) => createAttentionStack({ layers: decoder.layers.map((layer) => ({ ...layer.attention, window: 1 })) });
    const prompt = [0, 2, 4];
    const cached = await cachedRun(DEFAULT_CONFIG, prompt, 12, forgetful);
    const recomputed = generateWithoutCache(createDecoder(DEFAULT_CONFIG), prompt, 12);
    expect(() => expectSameGeneration(cached, recomputed)).toThrow();
  });

  it('the stack has one engine per layer, which caches the prompt and every generated token but the last, and is disposed at the end', async () => {
    const made: AttentionStack[] = [];
    const appended = new Map<Attention, number>();
    const recording = recordingStacks(made);
    const watching: DecoderStackFactory = (decoder) => {
      const stack = recording(decoder);
      for (const engine of layersOf(stack)) {
        appended.set(engine, 0);
        engine.addCacheListener((event) => {
          if (event.type === 'append') appended.set(engine, appended.get(engine)! + 1);
        });
      }
      return stack;
    };
    await cachedRun(DEFAULT_CONFIG, [0, 2, 4], 5, watching);
    expect(made).toHaveLength(1);
    expect(made[0]!.depth).toBe(DEFAULT_CONFIG.layers);
    expect(appended.size).toBe(DEFAULT_CONFIG.layers);
    // 3 prompt tokens, then 4 of the 5 picks are fed back (the last pick is never pushed).
    expect([...appended.values()]).toEqual(layersOf(made[0]!).map(() => 3 + 4));
    expect(layersOf(made[0]!).every((engine) => engine.disposed)).toBe(true);
  });

  it('take(n) stops generation after n tokens', async () => {
    const tokens = await lastValueFrom(generateTokens(createDecoder(DEFAULT_CONFIG), [0], 1000).pipe(take(3), toArray()));
    expect(tokens).toHaveLength(3);
  });
});

describe('beam search forks the stack per continuation and disposes what it prunes', () => {
  it('width 1 is greedy decoding', () => {
    fc.assert(
      fc.property(configArbitrary, promptArbitrary, fc.integer({ min: 1, max: 10 }), (config, prompt, steps) => {
        const decoder = createDecoder(config);
        const [beam, ...others] = beamSearch(decoder, prompt, { width: 1, steps });
        expect(others).toEqual([]);
        expect(beam!.tokens).toEqual(generateWithoutCache(decoder, prompt, steps).map((t) => t.token));
        beam!.model.stack.dispose();
      }),
      { numRuns: 25 },
    );
  });

  it('every beam holds its whole sequence: its logits and score equal recomputing it from scratch, and the beams come best first', () => {
    fc.assert(
      fc.property(configArbitrary, promptArbitrary, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), (config, prompt, width, steps) => {
        const decoder = createDecoder(config);
        const beams = beamSearch(decoder, prompt, { width, steps });
        expect(beams).toHaveLength(width);
        expect(new Set(beams.map((b) => b.tokens.join(' '))).size).toBe(width);
        for (const [i, beam] of beams.entries()) {
          if (i > 0) expect(beam.score).toBeLessThanOrEqual(beams[i - 1]!.score);
          expect(beam.tokens).toHaveLength(steps);
          expect(layersOf(beam.model.stack).map((engine) => engine.length)).toEqual(layersOf(beam.model.stack).map(() => prompt.length + steps));
          expectClose(beam.logits, logitsWithoutCache(decoder, [...prompt, ...beam.tokens]), 1e-9, `logits of beam ${i}`);
          const score = beam.tokens.reduce((sum, token, n) => sum + logProbability(logitsWithoutCache(decoder, [...prompt, ...beam.tokens.slice(0, n)]), token), 0);
          expectClose([beam.score], [score], 1e-9, `score of beam ${i}`);
          beam.model.stack.dispose();
        }
      }),
      { numRuns: 25 },
    );
  });

  it('as wide as the vocabulary, two steps are exhaustive: the best beam is the most probable pair of tokens', () => {
    const decoder = createDecoder(DEFAULT_CONFIG);
    const prompt = [0, 2, 4];
    const first = logitsWithoutCache(decoder, prompt);
    let best = { score: -Infinity, tokens: [] as number[] };
    for (let a = 0; a < VOCABULARY.length; a++) {
      const second = logitsWithoutCache(decoder, [...prompt, a]);
      for (let b = 0; b < VOCABULARY.length; b++) {
        const score = logProbability(first, a) + logProbability(second, b);
        if (score > best.score) best = { score, tokens: [a, b] };
      }
    }
    const beams = beamSearch(decoder, prompt, { width: VOCABULARY.length, steps: 2 });
    expect(beams[0]!.tokens).toEqual(best.tokens);
    expectClose([beams[0]!.score], [best.score], 1e-9, 'best score');
    for (const beam of beams) beam.model.stack.dispose();
  });

  it('every stack but the final beams’ is disposed, every layer of it; pruned beams are reported once disposed', () => {
    fc.assert(
      fc.property(configArbitrary, promptArbitrary, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), (config, prompt, width, steps) => {
        const made: AttentionStack[] = [];
        const pruned: { beam: Beam; disposed: boolean[] }[] = [];
        const beams = beamSearch(createDecoder(config), prompt, {
          width,
          steps,
          makeStack: recordingStacks(made),
          onPrune: (beam) => pruned.push({ beam, disposed: layersOf(beam.model.stack).map((engine) => engine.disposed) }),
        });
        // The root, then one fork per survivor per step.
        expect(made).toHaveLength(1 + width * steps);
        const live = made.filter((stack) => layersOf(stack).some((engine) => !engine.disposed));
        expect(live).toHaveLength(width);
        for (const stack of made) expect(new Set(layersOf(stack).map((engine) => engine.disposed)).size).toBe(1);
        for (const beam of beams) expect(beam.model.stack.layer(0).disposed).toBe(false);
        for (const { beam, disposed } of pruned) {
          expect(disposed.every(Boolean)).toBe(true);
          // No final beam continues a pruned one.
          expect(beams.some((b) => beam.tokens.every((token, i) => b.tokens[i] === token))).toBe(false);
        }
        for (const beam of beams) beam.model.stack.dispose();
      }),
      { numRuns: 25 },
    );
  });
});

describe('speculative decoding truncates the stack to drop rejected proposals', () => {
  it('gives exactly the greedy text, whatever the draft and k', () => {
    fc.assert(
      fc.property(configArbitrary, promptArbitrary, fc.integer({ min: 1, max: 16 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 3 }), (config, prompt, count, k, draftLayers) => {
        const decoder = createDecoder(config);
        const run = generateSpeculatively(decoder, prompt, count, { k, draft: draftOf(decoder, Math.min(draftLayers, config.layers)) });
        expect(run.tokens).toEqual(generateWithoutCache(decoder, prompt, count).map((t) => t.token));
        for (const step of run.steps) {
          expect(step.drafted.length).toBeLessThanOrEqual(k);
          expect(step.tokens).toHaveLength(step.accepted + 1);
          expect(step.tokens.slice(0, -1)).toEqual(step.drafted.slice(0, step.accepted));
        }
      }),
      { numRuns: 40 },
    );
  });

  it('after the rollback, both stacks hold the sequence but its last token and continue exactly as fresh stacks fed only that', () => {
    fc.assert(
      fc.property(
        configArbitrary,
        promptArbitrary,
        fc.integer({ min: 1, max: 6 }),
        fc.array(tokenArbitrary, { maxLength: 4 }),
        (config, prompt, k, more) => {
          const decoder = createDecoder(config);
          const draftDecoder = draftOf(decoder);
          const model = fedModel(decoder, prompt.slice(0, -1));
          const draft = fedModel(draftDecoder, prompt.slice(0, -1));
          const step = speculativeStep(model, draft, prompt[prompt.length - 1]!, k);
          const kept = [...prompt, ...step.tokens.slice(0, -1)];
          for (const stack of [model.stack, draft.stack]) {
            expect(stack.length).toBe(kept.length);
            for (const engine of layersOf(stack)) expect(engine.length).toBe(kept.length);
          }
          const next = [step.tokens.at(-1)!, ...more];
          expect(model.pushTokens(next)).toEqual(fedModel(decoder, kept).pushTokens(next));
          expect(draft.pushTokens(next)).toEqual(fedModel(draftDecoder, kept).pushTokens(next));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('the comparison catches a rollback that keeps a rejected token', () => {
    const decoder = createDecoder(DEFAULT_CONFIG);
    const prompt = [0, 2, 4];
    const step = speculativeStep(fedModel(decoder, prompt.slice(0, -1)), fedModel(draftOf(decoder), prompt.slice(0, -1)), 4, 4);
    expect(step.accepted).toBeLessThan(4);
    const kept = [...prompt, ...step.tokens.slice(0, -1)];
    const withRejected = fedModel(decoder, [...kept, step.drafted[step.accepted]!]).pushTokens([step.tokens.at(-1)!]);
    expect(() => expectClose(withRejected[0]!, fedModel(decoder, kept).pushTokens([step.tokens.at(-1)!])[0]!, 1e-9)).toThrow();
  });

  /** Stacks of int8 caches in small blocks, so that drafts often cross a block's end; `retain` as given. */
  const int8Stacks =
    (blockSize: number, retain: number): DecoderStackFactory =>
    (decoder) =>
      createAttentionStack({ cacheDtype: 'int8', blockSize, ...(retain > 0 ? { retain } : {}), layers: decoder.layers.map((layer) => layer.attention) });

  it('with int8 caches and retain k, gives exactly the text greedy decoding gives on the same caches', async () => {
    await fc.assert(
      fc.asyncProperty(configArbitrary, promptArbitrary, fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2, max: 5 }), async (config, prompt, k, blockSize) => {
        const decoder = createDecoder(config);
        const makeStack = int8Stacks(blockSize, k);
        const greedy = await cachedRun(config, prompt, 30, makeStack);
        const run = generateSpeculatively(decoder, prompt, 30, { k, draft: draftOf(decoder), makeStack });
        expect(run.tokens).toEqual(greedy.map((t) => t.token));
      }),
      { numRuns: 15 },
    );
  });

  it('with int8 caches and no retain, a rollback into a quantized block can change the text', async () => {
    // Seed 6: the 38th token differs (the rollback's kept keys quantized on the rejected ones' scales).
    const config = { ...DEFAULT_CONFIG, seed: 6 };
    const greedy = await cachedRun(config, [1, 2], 60, int8Stacks(4, 0));
    const decoder = createDecoder(config);
    const run = generateSpeculatively(decoder, [1, 2], 60, { k: 4, draft: draftOf(decoder), makeStack: int8Stacks(4, 0) });
    expect(run.tokens).not.toEqual(greedy.map((t) => t.token));
    expect(generateSpeculatively(decoder, [1, 2], 60, { k: 4, draft: draftOf(decoder), makeStack: int8Stacks(4, 4) }).tokens).toEqual(greedy.map((t) => t.token));
  });
});

describe('examples/generation-loop.ts', () => {
  it('main() decodes the same text greedily with and without the cache and speculatively, beam-searches, and does the same on every run', async () => {
    const first = await main();
    const again = await main();
    expect(again).toEqual(first);
    expect(first.cached).toHaveLength(12);
    expect(first.cached).toEqual(first.recomputed);
    expect(first.maxLogitDifference).toBeLessThan(1e-9);
    for (const word of first.cached) expect(VOCABULARY).toContain(word);

    expect(first.beam.beams).toHaveLength(3);
    expect(first.beam.pruned).toBeGreaterThan(0);
    for (const beam of first.beam.beams) expect(beam.words).toHaveLength(12);

    const { speculative } = first;
    expect(speculative.words).toEqual(first.cached);
    expect(speculative.accepted).toBeGreaterThan(0);
    expect(speculative.accepted).toBeLessThan(speculative.proposed);
    expect(speculative.rollback.rolledBack).toBeGreaterThan(0);
    expect(speculative.rollback.difference).toBe(0);
  });
});

describe('docs/guides/generation.md', () => {
  const guide = readFileSync(new URL('../../docs/guides/generation.md', import.meta.url), 'utf8');

  it('shows what the example prints', async () => {
    expect(guide).toContain(['npx tsx examples/generation-loop.ts', ...report(await main())].join('\n'));
  });

  it('the stack snippet runs and logs what its comments say', () => {
    const snippet = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).find((code) => code.includes('createAttentionStack'))!;
    const javascript = ts.transpileModule(snippet, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
    const body = javascript.replace(/^import .*$/gm, '');
    const logged: string[] = [];
    new Function('createAttentionStack', 'console', body)(createAttentionStack, { log: (value: unknown) => logged.push(inspect(value)) });
    const claimed = [...snippet.matchAll(/console\.log\(.*\); \/\/ (.*)$/gm)].map((m) => m[1]!);
    expect(claimed).toHaveLength(4);
    expect(logged).toEqual(claimed.map((comment) => comment.replace(/:.*$/, '')));
  });

  it('the createLinear snippet is the MLP computed in float64 (within float32 rounding) and logs what its comment says', () => {
    const snippet = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).find((code) => code.includes('createLinear'))!;
    const javascript = ts.transpileModule(snippet, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
    const logged: Float32Array[] = [];
    new Function('createLinear', 'console', javascript.replace(/^import .*$/gm, ''))(createLinear, { log: (value: Float32Array) => logged.push(value) });
    // The snippet's MLP, from its formulas: up (8×4, sin(i)/2), ReLU, down (4×8, cos(i)/2), in float64.
    const x = [1, 0.5, -1, 2];
    const hidden = Array.from({ length: 8 }, (_, r) => Math.max(0, x.reduce((s, xc, c) => s + Math.fround(Math.sin(r * 4 + c) / 2) * xc, 0)));
    const expected = Array.from({ length: 4 }, (_, r) => hidden.reduce((s, h, c) => s + Math.fround(Math.cos(r * 8 + c) / 2) * h, 0));
    expect(logged).toHaveLength(1);
    logged[0]!.forEach((v, r) => expect(Math.abs(v - expected[r]!)).toBeLessThan(1e-6));
    const claimed = snippet.match(/\/\/ Float32Array\(4\) \[(.*)\]/)![1]!.split(', ').map(Number);
    expect(Array.from(logged[0]!, (v) => Number(v.toFixed(4)))).toEqual(claimed);
  });

  it("the tied-embeddings snippet looks a token up with row() and logs what its comment says", () => {
    const snippet = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).find((code) => code.includes('lmHead.row('))!;
    const javascript = ts.transpileModule(snippet, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
    const logged: unknown[] = [];
    const rows: Float32Array[] = [];
    // The snippet's layer, watched: every row it hands out must be the table's.
    const watched = (options: Parameters<typeof createLinear>[0]) => {
      const layer = createLinear(options);
      const row = layer.row.bind(layer);
      return Object.assign(layer, { row: (i: number) => { const r = row(i); rows.push(r.slice()); return r; } });
    };
    new Function('createLinear', 'console', javascript.replace(/^import .*$/gm, ''))(watched, { log: (value: unknown) => logged.push(value) });
    expect(logged).toEqual([Number(snippet.match(/console\.log\(logits\.length\); \/\/ (\d+)/)![1])]);
    expect(Array.from(rows[0]!)).toEqual(Array.from({ length: 4 }, (_, c) => Math.fround(Math.sin(12 + c) / 2)));
  });
});
