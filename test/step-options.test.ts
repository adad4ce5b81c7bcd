import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAttention, createCrossAttention, pushEach, pushEachQKV } from '../src/index.js';
import type { Attention, AttentionOptions, AttentionStep, StepOptions } from '../src/index.js';
import { caseArbitrary, mulberry32, tokensArbitrary } from './support/engine-arbitraries.js';
import { refusal } from './support/refusal.js';
import { filePool } from './support/thread-pool.js';

/** A step's numbers as plain arrays, so that equality is bit for bit (toEqual tells −0 from +0). */
function plain(step: AttentionStep) {
  return {
    index: step.index,
    output: Array.from(step.output),
    positions: step.positions === undefined ? undefined : Array.from(step.positions),
    weights: step.weights?.map((w) => Array.from(w)),
  };
}

/**
 * `actual` (a call with `choice`, on an engine whose own option is `engineWeights`) against the
 * same call on an engine made with `withWeights: true` and given no choice: the same outputs bit
 * for bit, and its positions and weights exactly when the choice (or else the engine's option)
 * asks for them.
 */
function expectChosen(actual: readonly AttentionStep[], reference: readonly AttentionStep[], choice: boolean | undefined, engineWeights: boolean): void {
  const carries = choice ?? engineWeights;
  expect(actual.map((s) => s.index)).toEqual(reference.map((s) => s.index));
  actual.forEach((step, n) => {
    if (carries) expect(plain(step)).toEqual(plain(reference[n]!));
    else {
      expect(Array.from(step.output)).toEqual(Array.from(reference[n]!.output));
      expect('positions' in step || 'weights' in step).toBe(false);
    }
  });
}

const choiceArbitrary = fc.constantFrom<boolean | undefined>(true, false, undefined);
const asOptions = (choice: boolean | undefined): StepOptions | undefined => (choice === undefined ? undefined : { withWeights: choice });

describe("a call's withWeights (StepOptions)", () => {
  it.each(['float64', 'float32'] as const)(
    'push, pushMany and flush (%s): the steps an engine made with withWeights gives when asked, none when not, the same outputs bit for bit',
    (precision) => {
      fc.assert(
        fc.property(
          caseArbitrary({ precision }, 24),
          fc.nat(24),
          fc.array(choiceArbitrary, { minLength: 26, maxLength: 26 }),
          ({ options, xs }, prompt, choices) => {
            const off = createAttention({ ...options, withWeights: false });
            const on = createAttention({ ...options, withWeights: true });
            const reference = createAttention({ ...options, withWeights: true });
            // The first tokens as one prompt, the rest one push each, then a flush (look-ahead's waiting outputs).
            const cut = Math.min(prompt, xs.length);
            const calls: ((e: Attention, o?: StepOptions) => AttentionStep[])[] = [
              (e, o) => e.pushMany(xs.slice(0, cut), o),
              ...xs.slice(cut).map((x) => (e: Attention, o?: StepOptions) => e.push(x, o)),
              (e, o) => e.flush(o),
            ];
            calls.forEach((call, c) => {
              const choice = choices[c];
              const expected = call(reference);
              expectChosen(call(off, asOptions(choice)), expected, choice, false);
              expectChosen(call(on, asOptions(choice)), expected, choice, true);
            });
          },
        ),
        { numRuns: precision === 'float64' ? 150 : 100 },
      );
    },
  );

  it('pushQKV, pushManyQKV, pushEach, pushEachQKV and cross-attention take it the same way', () => {
    const random = mulberry32(7);
    const matrix = (rows: number, cols: number) => Float32Array.from({ length: rows * cols }, () => (random() * 2 - 1) / Math.sqrt(cols));
    const [dim, heads, kvHeads, headDim] = [8, 4, 2, 2];
    const weights = { wq: matrix(heads * headDim, dim), wk: matrix(kvHeads * headDim, dim), wv: matrix(kvHeads * headDim, dim), wo: matrix(dim, heads * headDim) };
    const projected: AttentionOptions = { dim, heads, kvHeads, headDim, window: 5, positions: 'rope', weights };
    // For pushQKV: the caller projects, the engine applies wo.
    const fedQKV: AttentionOptions = { ...projected, weights: { wo: matrix(dim, heads * headDim) } };
    fc.assert(
      fc.property(
        tokensArbitrary(dim, 1, 12),
        tokensArbitrary(heads * headDim, 3, 3),
        tokensArbitrary(kvHeads * headDim, 6, 6),
        fc.array(choiceArbitrary, { minLength: 7, maxLength: 7 }),
        (xs, qs, kvs, choices) => {
          const [ks, vs] = [kvs.slice(0, 3), kvs.slice(3)];
          for (const engineWeights of [false, true]) {
            const made = (options: AttentionOptions, withWeights: boolean) => createAttention({ ...options, withWeights });
            // pushManyQKV then pushQKV
            const qkv = made(fedQKV, engineWeights);
            const qkvReference = made(fedQKV, true);
            expectChosen(qkv.pushManyQKV(qs.slice(0, 2), ks.slice(0, 2), vs.slice(0, 2), asOptions(choices[0])), qkvReference.pushManyQKV(qs.slice(0, 2), ks.slice(0, 2), vs.slice(0, 2)), choices[0], engineWeights);
            expectChosen(qkv.pushQKV(qs[2]!, ks[2]!, vs[2]!, asOptions(choices[1])), qkvReference.pushQKV(qs[2]!, ks[2]!, vs[2]!), choices[1], engineWeights);
            // pushEach and pushEachQKV over two forks
            const engine = made(projected, engineWeights);
            const reference = made(projected, true);
            engine.pushMany(xs);
            reference.pushMany(xs);
            const [beams, referenceBeams] = [[engine.fork(), engine.fork()], [reference.fork(), reference.fork()]];
            const each = pushEach(beams, [xs[0]!, xs.at(-1)!], asOptions(choices[2]));
            const referenceEach = pushEach(referenceBeams, [xs[0]!, xs.at(-1)!]);
            each.forEach((steps, b) => expectChosen(steps, referenceEach[b]!, choices[2], engineWeights));
            const qkvBeams = [qkv.fork(), qkv.fork()];
            const referenceQkvBeams = [qkvReference.fork(), qkvReference.fork()];
            const eachQKV = pushEachQKV(qkvBeams, qs.slice(0, 2), ks.slice(0, 2), vs.slice(0, 2), asOptions(choices[3]));
            const referenceEachQKV = pushEachQKV(referenceQkvBeams, qs.slice(0, 2), ks.slice(0, 2), vs.slice(0, 2));
            eachQKV.forEach((steps, b) => expectChosen(steps, referenceEachQKV[b]!, choices[3], engineWeights));
            // cross-attention over the tokens as the memory
            const crossOptions = { dim, heads, kvHeads, headDim, weights };
            const cross = createCrossAttention({ ...crossOptions, withWeights: engineWeights });
            const crossReference = createCrossAttention({ ...crossOptions, withWeights: true });
            cross.setMemory(xs);
            crossReference.setMemory(xs);
            expectChosen([cross.attend(xs[0]!, asOptions(choices[4]))], [crossReference.attend(xs[0]!)], choices[4], engineWeights);
            expectChosen(cross.attendMany(xs, asOptions(choices[5])), crossReference.attendMany(xs), choices[5], engineWeights);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  const pool = filePool();

  it('an int8 cache and a thread pool give the same weights on request', () => {
    fc.assert(
      fc.property(tokensArbitrary(16, 1, 40), fc.array(choiceArbitrary, { minLength: 40, maxLength: 40 }), (xs, choices) => {
        for (const options of [{ dim: 16, heads: 4, cacheDtype: 'int8', blockSize: 8 }, { dim: 16, heads: 4, blockSize: 4, threads: pool() }] as AttentionOptions[]) {
          const engine = createAttention(options);
          const reference = createAttention({ ...options, withWeights: true });
          xs.forEach((x, t) => expectChosen(engine.push(x, asOptions(choices[t])), reference.push(x), choices[t], false));
          engine.dispose();
          reference.dispose();
        }
      }),
      { numRuns: 40 },
    );
  });

  it('bad options are refused, naming what was wrong, and change nothing', () => {
    const options: AttentionOptions = { dim: 4, heads: 2, lookahead: 1, withWeights: true };
    const x = [1, -2, 0.5, 3];
    const bad: [unknown, string, RegExp][] = [
      [null, 'options', /options must be an object \{ withWeights\? \}, got null/],
      [1, 'options', /options must be an object/],
      ['yes', 'options', /options must be an object/],
      [{ withWeights: 1 }, 'withWeights', /withWeights must be a boolean, got 1/],
      [{ withWeights: 'true' }, 'withWeights', /withWeights must be a boolean/],
      [{ weights: true }, 'weights', /"weights" is not an option \(known: withWeights\)/],
      [{ withWeights: true, extra: 0 }, 'extra', /"extra" is not an option/],
    ];
    const attn = createAttention(options);
    const twin = createAttention(options);
    attn.pushMany([x, x]);
    twin.pushMany([x, x]);
    const cross = createCrossAttention({ dim: 4, heads: 2 });
    cross.setMemory([x]);
    for (const [given, field, message] of bad) {
      const o = given as StepOptions;
      const calls: [string, () => unknown][] = [
        ['push', () => attn.push(x, o)],
        ['pushMany', () => attn.pushMany([x], o)],
        ['pushQKV', () => attn.pushQKV(x, x, x, o)],
        ['pushManyQKV', () => attn.pushManyQKV([x], [x], [x], o)],
        ['flush', () => attn.flush(o)],
        ['pushEach', () => pushEach([attn], [x], o)],
        ['pushEachQKV', () => pushEachQKV([attn], [x], [x], [x], o)],
        ['attend', () => cross.attend(x, o)],
        ['attendMany', () => cross.attendMany([x], o)],
      ];
      for (const [operation, call] of calls) {
        const error = refusal(call);
        expect(error.code).toBe('INVALID_ARGUMENT');
        expect(error.details.field).toBe(field);
        expect(error.message).toMatch(new RegExp(`^${operation}: ${message.source}`));
      }
    }
    // Nothing changed: the engine goes on as its twin, which was never refused; the cross-attention counts no query.
    expect(attn.length).toBe(2);
    expect(plain(attn.push([0, 1, 0, 1])[0]!)).toEqual(plain(twin.push([0, 1, 0, 1])[0]!));
    expect(attn.flush().map(plain)).toEqual(twin.flush().map(plain));
    expect(cross.attend(x).index).toBe(0);
  });

  it('a withWeights getter that calls into the engine is refused as an input reading would be, and changes nothing', () => {
    const attn = createAttention({ dim: 2 });
    attn.push([1, 0]);
    const reentrant = {
      get withWeights(): boolean {
        attn.push([0, 1]);
        return true;
      },
    };
    const error = refusal(() => attn.push([1, 1], reentrant));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/^push: called while this engine reads the inputs of its push/);
    expect(attn.length).toBe(1);
  });
});
