import fc from 'fast-check';
import { firstValueFrom, from, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { AttentionError, batchAttention } from '../../src/index.js';
import { attend, embed, EmbeddingTable } from '../../src/rx/index.js';
import { expectClose } from '../support/close.js';
import { configArbitrary } from '../support/engine-arbitraries.js';
import { stepScheduler } from './support/step-marbles.js';

const table = EmbeddingTable.fromArrays(['the', 'dog', 'ran'], [[1, 0], [0, 1], [0.5, 0.5]], { lowercase: true });
const [the, dog, ran] = [[1, 0], [0, 1], [0.5, 0.5]];

describe('embed', () => {
  it('emits each token\'s vector in the frame the token arrives; words and row indices alike', () => {
    stepScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<string | number>('-a-b--c|', { a: 'The', b: 1, c: 'ran' });
      expectObservable(source.pipe(embed(table))).toBe('-x-y--z|', { x: the, y: dog, z: ran });
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
  });

  it('an unknown word errors with UNKNOWN_TOKEN naming its stream position, and unsubscribes the source', () => {
    const error = new AttentionError('UNKNOWN_TOKEN', '', { field: 'token', token: 2, actual: 'cat' });
    stepScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('ab-c-d|', { a: 'the', b: 'dog', c: 'cat', d: 'ran' });
      expectObservable(source.pipe(embed(table))).toBe('xy-#', { x: the, y: dog }, error);
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('positions count per subscription, from 0', async () => {
    const words = from(['the', 'cat']).pipe(embed(table));
    for (let n = 0; n < 2; n++) {
      await expect(firstValueFrom(words.pipe(toArray()))).rejects.toMatchObject({ details: { token: 1, actual: 'cat' } });
    }
  });

  it('passes completion, errors and unsubscription through', () => {
    const failure = new Error('upstream');
    stepScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold<string>('|').pipe(embed(table))).toBe('|');
      expectObservable(cold('a-#', { a: 'dog' }, failure).pipe(embed(table))).toBe('y-#', { y: dog }, failure);
      expectObservable(cold('a-b-c|', { a: 'the', b: 'dog', c: 'ran' }).pipe(embed(table)), '^--!').toBe('x-y', { x: the, y: dog });
    });
  });

  it('feeds attend: words in, the attention of their embeddings out', async () => {
    const steps = await firstValueFrom(from(['the', 'dog', 'ran']).pipe(embed(table), attend({ dim: 2 }), toArray()));
    const reference = batchAttention([the, dog, ran], { dim: 2 });
    expect(steps.map((s) => Array.from(s.output))).toEqual(reference.map((s) => Array.from(s.output)));
  });

  it('refuses anything but an EmbeddingTable at once', () => {
    expect(() => embed(new Map() as unknown as EmbeddingTable)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('embed then attend equals batchAttention on the same embeddings', () => {
  it('for random vocabularies, token streams (words and row indices) and engine options', async () => {
    const caseArbitrary = configArbitrary({ precision: 'float64' }).chain((options) =>
      fc
        .array(fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: options.dim, maxLength: options.dim }), { minLength: 1, maxLength: 6 })
        .chain((rows) =>
          fc
            .array(fc.tuple(fc.nat(rows.length - 1), fc.boolean()), { minLength: 1, maxLength: 24 })
            .map((picks) => ({ options, rows, picks })),
        ),
    );
    await fc.assert(
      fc.asyncProperty(caseArbitrary, async ({ options, rows, picks }) => {
        const words = rows.map((_, i) => `w${i}`);
        const table = EmbeddingTable.fromArrays(words, rows);
        const tokens = picks.map(([row, asWord]) => (asWord ? words[row]! : row));
        const steps = await firstValueFrom(from(tokens).pipe(embed(table), attend(options), toArray()));
        // The table stores float32, so the reference gets the rows rounded the same way.
        const expected = batchAttention(picks.map(([row]) => rows[row]!.map(Math.fround)), options);
        expect(steps.map((step) => step.index)).toEqual(expected.map((step) => step.index));
        steps.forEach((step, n) => expectClose(step.output, expected[n]!.output, 1e-12, `output of token ${step.index}`));
      }),
      { numRuns: 100 },
    );
  });
});
