import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAttention, restoreAttention } from '../../src/index.js';
import type { Attention, AttentionOptions, AttentionStep } from '../../src/index.js';
import { attentionOptionsArbitrary, checkCacheLaws, checkIncremental } from '../../src/testing/index.js';
import type { CachedAttention, IncrementalAttention } from '../../src/testing/index.js';
import { delegate } from './delegate.js';
import { verificationFailure } from './verification-failure.js';

// Tests a mutation-testing round of the verification kit found missing: each names the mutant it kills.

/** The core engine, writing into each input it was given with `write` once it has pushed it. */
const writingInto =
  (write: (row: number[]) => void) =>
  (options: AttentionOptions): IncrementalAttention => {
    const engine = createAttention(options);
    return {
      push: (x) => {
        const steps = engine.push(x);
        write(x as number[]);
        return steps;
      },
      flush: () => engine.flush(),
    };
  };

describe('checkIncremental: what a push or flush returns', () => {
  it('catches an engine that writes into element 0 of its input alone (mutant: pushCopy `changed >= 0` → `changed > 0`)', () => {
    const firstOnly = writingInto((row) => {
      row[0] = row[0]! + 1;
    });
    const { mismatch } = verificationFailure(() => checkIncremental(firstOnly, { numRuns: 20 }));
    expect(mismatch).toMatchObject({ kind: 'mutated', call: 'push(x0)', element: 0 });
  });

  it("catches an engine that only turns an input's +0 into −0: a write all the same (mutant: pushCopy's Object.is → !==)", () => {
    const signFlipping = writingInto((row) => {
      row.forEach((v, r) => {
        if (Object.is(v, 0)) row[r] = -0;
      });
    });
    const { mismatch } = verificationFailure(() => checkIncremental(signFlipping, { numRuns: 200, seed: 3 }));
    expect(mismatch).toMatchObject({ kind: 'mutated' });
    expect(Object.is(mismatch.actual![mismatch.element!], -0)).toBe(true);
  });

  it('refuses an implementation that returns a thenable that is no native Promise, as it refuses a promise (mutant: isThenable → `instanceof Promise`)', () => {
    const thenable = (options: AttentionOptions) => {
      const engine = createAttention(options);
      const answer = <T>(value: () => T): PromiseLike<T> => ({ then: (resolve) => Promise.resolve(value()).then(resolve) }) as PromiseLike<T>;
      return { push: (x: readonly number[]) => answer(() => engine.push(x)), flush: () => answer(() => engine.flush()) };
    };
    expect(() => checkIncremental(thenable as never, { numRuns: 3 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'factory' }, message: expect.stringMatching(/^checkIncremental: push\(x0\) returned a promise; /) }),
    );
  });

  it("reports a flush that returns no array as the engine's emission mismatch, not a crash of the check (mutant: flush's result used as an array)", () => {
    const silent = (options: AttentionOptions) => {
      const engine = createAttention(options);
      return { push: (x: readonly number[]) => engine.push(x), flush: () => undefined };
    };
    const { mismatch } = verificationFailure(() => checkIncremental(silent as never, { numRuns: 5 }));
    expect(mismatch).toMatchObject({ kind: 'emission', call: 'flush()' });
  });
});

/** What {@link shy}'s snapshot holds: the engine's bytes and its stream's reach. */
interface Saved {
  readonly bytes: Uint8Array;
  readonly reach: number;
}

/**
 * `engine`, refusing `truncate(n)` where `refuse(n, length, reach)` says so (changing nothing
 * then, and telling `refused`); `reach` is the most steps its stream has emitted (forks and
 * snapshots carry it), as the kit counts it for options without look-ahead.
 */
function shy(engine: Attention, refuse: (n: number, length: number, reach: number) => boolean, reachAtStart = 0, refused: () => void = () => undefined): CachedAttention<Saved> {
  let reach = reachAtStart;
  const emitted = <T extends readonly AttentionStep[]>(steps: T): T => {
    for (const step of steps) reach = Math.max(reach, step.index + 1);
    return steps;
  };
  return {
    get length() {
      return engine.length;
    },
    push: (x) => emitted(engine.push(x)),
    flush: () => emitted(engine.flush()),
    fork: () => shy(engine.fork(), refuse, reach, refused),
    truncate: (n) => {
      if (refuse(n, engine.length, reach)) {
        refused();
        throw new RangeError(`will not truncate to ${n}`);
      }
      engine.truncate(n);
    },
    snapshot: () => ({ bytes: engine.snapshot(), reach }),
    dispose: () => engine.dispose(),
  };
}

/** A fresh core engine, {@link shy} where `refuse` says. */
const refusingTruncate = (options: AttentionOptions, refuse: (n: number, length: number, reach: number) => boolean) => shy(createAttention(options), refuse);

/** Window 2, no sinks, no look-ahead: the next query n attends keys n − 1 and n. */
const windowTwo = fc.constant<AttentionOptions>({ dim: 2, window: 2 });

describe('checkCacheLaws: which truncate refusals are lawful', () => {
  it('catches a refusal of truncate(0) once the stream has emitted past its window: no key is needed there (mutant: `first >= n ||` dropped)', () => {
    const factory = (options: AttentionOptions) => refusingTruncate(options, (n, _length, reach) => n === 0 && reach >= 2);
    const { mismatch } = verificationFailure(() => checkCacheLaws(factory, { optionsArbitrary: windowTwo, numRuns: 200, seed: 5 }));
    expect(mismatch).toMatchObject({ kind: 'threw', call: 'e0.truncate(0)' });
    expect(mismatch.description).toMatch(/^refused though no key its next query needs/);
  });

  it('catches a refusal of a truncate to the length held, where the next query needs key n − 1, attended by the last query emitted (mutant: `first` without its + 1)', () => {
    const factory = (options: AttentionOptions) => refusingTruncate(options, (n, length, reach) => n === length && n >= 2 && reach === n);
    const { mismatch } = verificationFailure(() => checkCacheLaws(factory, { optionsArbitrary: windowTwo, numRuns: 200, seed: 5 }));
    expect(mismatch).toMatchObject({ kind: 'threw' });
    expect(mismatch.call).toMatch(/^e\d+\.truncate\(\d+\)$/);
    expect(mismatch.description).toMatch(/^refused though no key its next query needs \(\[(\d+), \d+\)\)/);
  });

  it('passes lawful refusals by restored engines, which inherit what their stream emitted (mutant: restore(s, options) starts at reach 0)', () => {
    // Refuses every truncate the law allows it to refuse (window 2: a key j ≤ reach − 2 may be
    // gone, and truncate(n) needs key n − 1 from n ≥ 1), its reach carried through snapshots.
    const lawfullyShy = (n: number, _length: number, reach: number): boolean => n >= 1 && n - 1 <= reach - 2;
    let restoredRefusals = 0;
    const restore = (saved: Saved): CachedAttention<Saved> => shy(restoreAttention(saved.bytes), lawfullyShy, saved.reach, () => restoredRefusals++);
    checkCacheLaws((options) => shy(createAttention(options), lawfullyShy), { optionsArbitrary: windowTwo, restore, numRuns: 300, seed: 1 });
    // The cases did make restored engines refuse.
    expect(restoredRefusals).toBeGreaterThan(0);
  });
});

describe('checkCacheLaws: the calls it makes', () => {
  it('shows a lawful refusal in the calls it lists, as the call a later failure is blamed on (mutant: the refusal not noted in the transcript)', () => {
    // Window 2: refuses what the law lets it refuse, and then misreports its length.
    const shyThenWrong = (options: AttentionOptions) => {
      const engine = createAttention(options);
      let refused = false;
      const wrapped = shy(engine, (n, _length, reach) => n >= 1 && n - 1 <= reach - 2, 0, () => (refused = true));
      // Its own getter, defined on the object: spread into another, a getter is read once, there.
      return Object.defineProperty(wrapped, 'length', { get: () => engine.length + (refused ? 1 : 0) });
    };
    const error = verificationFailure(() => checkCacheLaws(shyThenWrong, { optionsArbitrary: windowTwo, numRuns: 200, seed: 5 }));
    expect(error.mismatch).toMatchObject({ kind: 'length' });
    expect(error.mismatch.call).toMatch(/^e\d+\.truncate\(\d+\) {2}\(refused: RangeError: will not truncate to \d+\)$/);
    expect(error.message).toContain('(refused: RangeError: will not truncate to');
  });

  it("reports a length read that throws as that read's failure (kind threw, call e0.length), not a crash of the check (mutant: length read outside attempt)", () => {
    const lengthless = (options: AttentionOptions): CachedAttention => {
      const engine = createAttention(options);
      return {
        ...delegate(engine),
        get length(): number {
          throw new RangeError('length is not known here');
        },
      };
    };
    const { mismatch } = verificationFailure(() => checkCacheLaws(lengthless, { numRuns: 5 }));
    expect(mismatch).toMatchObject({ kind: 'threw', call: 'e0.length', description: 'e0.length threw RangeError: length is not known here' });
  });

  it('requires weights and positions on every step when the options ask for them, though a fresh engine lacks them too (mutant: withWeights not passed to compareStep)', () => {
    const weightless = (options: AttentionOptions): CachedAttention => {
      const engine = createAttention(options);
      const strip = (steps: AttentionStep[]): AttentionStep[] => steps.map(({ index, output }) => ({ index, output }));
      const wrap = (e: Attention): CachedAttention => delegate(e, { push: (x) => strip(e.push(x)), flush: () => strip(e.flush()), fork: () => wrap(e.fork()) });
      return wrap(engine);
    };
    const withWeights = attentionOptionsArbitrary().map((o) => ({ ...o, withWeights: true }));
    const { mismatch } = verificationFailure(() => checkCacheLaws(weightless, { optionsArbitrary: withWeights, numRuns: 20 }));
    expect(mismatch).toMatchObject({ kind: 'weights' });
    expect(mismatch.description).toMatch(/withWeights: true/);
  });
});
