import { describe, expect, it } from 'vitest';
import { createAttention, restoreAttention } from '../../src/index.js';
import type { Attention, AttentionOptions } from '../../src/index.js';
import { attentionOptionsArbitrary, checkCacheLaws, checkCacheLawsAsync, checkIncremental, checkIncrementalAsync, VerificationError } from '../../src/testing/index.js';
import type { AsyncCachedAttention, CachedAttention } from '../../src/testing/index.js';
import { naiveAttention, NaiveAttention } from './naive-attention.js';
import type { Bug, NaiveSnapshot } from './naive-attention.js';

/** A macrotask later, as an answer from a worker or a GPU comes: not merely a resolved promise. */
const later = <T>(answer: () => T): Promise<T> => new Promise((resolve, reject) => setImmediate(() => {
  try {
    resolve(answer());
  } catch (error) {
    reject(error);
  }
}));

/** `engine` answering every call by a promise (a refusal by a rejection), its forks too. */
function answeringLater<Snapshot>(engine: CachedAttention<Snapshot>): AsyncCachedAttention<Snapshot> {
  return {
    get length() {
      return engine.length;
    },
    push: (x) => later(() => engine.push(x)),
    flush: () => later(() => engine.flush()),
    fork: () => later(() => answeringLater(engine.fork())),
    truncate: (n) => later(() => engine.truncate(n)),
    snapshot: () => later(() => engine.snapshot!()),
    dispose: () => later(() => engine.dispose?.()),
  };
}

/** The VerificationError `check` rejects with; fails the test if it resolves or rejects with something else. */
async function asyncFailure(check: Promise<void>): Promise<VerificationError> {
  try {
    await check;
  } catch (error) {
    if (error instanceof VerificationError) return error;
    throw error;
  }
  throw new Error('expected the check to find a counterexample, but every case passed');
}

/** The two failures are one: the same case shrunk the same way, told in the same words but for the check's name. */
function expectSameFailure(sync: VerificationError, async: VerificationError, check: string): void {
  expect(async.message).toBe(sync.message.replaceAll(`${check}:`, `${check}Async:`).replace(`Replay it: ${check}(`, `Replay it: ${check}Async(`));
  expect({ ...async }).toEqual({ ...sync });
}

/**
 * Each planted bug, and whether each check catches it with the seeds below (the cache laws compare
 * an engine with a fresh one of the same implementation, so they pass a wrong formula applied
 * consistently): both outcomes occur, so the comparison is not of passes alone.
 */
const BUGS: readonly (readonly [Bug, { readonly incremental: boolean; readonly laws: boolean }])[] = [
  ['softmax-without-max', { incremental: true, laws: false }],
  ['causal-off-by-one', { incremental: true, laws: false }],
  ['gqa-head-mapping', { incremental: true, laws: false }],
  ['rope-on-values', { incremental: true, laws: false }],
  ['window-too-wide', { incremental: true, laws: true }],
  ['scale-twice', { incremental: true, laws: false }],
  ['fork-shares-cache', { incremental: false, laws: true }],
  ['truncate-keeps-emitted', { incremental: false, laws: true }],
  ['restore-forgets-emitted', { incremental: false, laws: true }],
];

describe('checkIncrementalAsync', () => {
  it('resolves for the core engine answering by promises, and for the synchronous engine as it is', async () => {
    await expect(checkIncrementalAsync((options) => answeringLater(createAttention(options)), { numRuns: 40 })).resolves.toBeUndefined();
    await expect(checkIncrementalAsync(createAttention, { numRuns: 40 })).resolves.toBeUndefined();
  });

  it('takes a factory that returns a promise of the engine', async () => {
    await expect(checkIncrementalAsync((options) => later(() => createAttention(options)), { numRuns: 20 })).resolves.toBeUndefined();
  });

  it.each(BUGS)('finds what checkIncremental finds, the same counterexample in the same words: %s', async (bug, caught) => {
    const parameters = { seed: 7, numRuns: 60 };
    const sync = (() => {
      try {
        checkIncremental((options) => naiveAttention(options, bug), parameters);
        return null;
      } catch (error) {
        if (error instanceof VerificationError) return error;
        throw error;
      }
    })();
    expect(sync !== null).toBe(caught.incremental);
    const run = checkIncrementalAsync((options) => answeringLater(naiveAttention(options, bug)), parameters);
    if (sync === null) await expect(run).resolves.toBeUndefined();
    else expectSameFailure(sync, await asyncFailure(run), 'checkIncremental');
  });

  it('catches a wrong output, and names the rejected call where an engine rejects', async () => {
    const wrong = await asyncFailure(checkIncrementalAsync((options) => answeringLater(naiveAttention(options, 'causal-off-by-one')), { numRuns: 200 }));
    expect(wrong.message).toMatch(/^checkIncrementalAsync: the implementation disagrees with referenceAttention\./);
    const rejecting = (options: AttentionOptions) => {
      const engine = createAttention(options);
      return { push: async (x: readonly number[]) => (engine.length === 2 ? Promise.reject(new RangeError('the GPU lost its buffer')) : engine.push(x)), flush: async () => engine.flush() };
    };
    const { mismatch } = await asyncFailure(checkIncrementalAsync(rejecting, { sequence: { minLength: 3 } }));
    expect(mismatch).toMatchObject({ kind: 'threw', call: 'push(x2)', description: 'push(x2) threw RangeError: the GPU lost its buffer' });
  });

  it('makes one call at a time: each awaited before the next', async () => {
    let inFlight = 0;
    let most = 0;
    const counted = (options: AttentionOptions) => {
      const engine = createAttention(options);
      const track = <T>(answer: () => T): Promise<T> => {
        most = Math.max(most, ++inFlight);
        return later(answer).finally(() => inFlight--);
      };
      return { push: (x: readonly number[]) => track(() => engine.push(x)), flush: () => track(() => engine.flush()) };
    };
    await checkIncrementalAsync(counted, { numRuns: 10 });
    expect(most).toBe(1);
  });

  it('rejects bad parameters with INVALID_ARGUMENT (a rejection, not a throw), naming the check', async () => {
    const bad = checkIncrementalAsync(createAttention, { numRuns: 0 });
    await expect(bad).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'numRuns' } });
    await expect(checkIncrementalAsync(createAttention, { runs: 5 } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('checkIncrementalAsync') });
    await expect(checkIncrementalAsync(5 as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'factory' } });
    await expect(checkIncrementalAsync(createAttention, { seed: 1, path: 'abc' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'path' } });
  });

  it('replays a failure from the seed and path it reports, and shrinks within shrinkTimeLimit', async () => {
    const buggy = (options: AttentionOptions) => answeringLater(naiveAttention(options, 'scale-twice'));
    const found = await asyncFailure(checkIncrementalAsync(buggy, { numRuns: 200 }));
    const replayed = await asyncFailure(checkIncrementalAsync(buggy, { seed: found.seed, path: found.path }));
    expect(replayed.counterexample).toEqual(found.counterexample);
    const cut = await asyncFailure(checkIncrementalAsync(buggy, { seed: found.seed, numRuns: 200, shrinkTimeLimit: 0 }));
    expect(cut.message).toContain('stopped by shrinkTimeLimit (0 ms)');
  });
});

describe('checkIncremental with an implementation that answers by promises', () => {
  it('refuses it as such, pointing to checkIncrementalAsync, and leaves no rejection unhandled', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', record);
    try {
      const rejecting = (options: AttentionOptions) => ({ push: async () => Promise.reject(new Error('lost')), flush: async () => createAttention(options).flush() });
      expect(() => checkIncremental(rejecting as never, { numRuns: 5 })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'factory' }, message: expect.stringMatching(/^checkIncremental: push\(x0\) returned a promise; .*with checkIncrementalAsync$/) }),
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', record);
    }
  });
});

describe('checkCacheLawsAsync', () => {
  const restoreLater = (snapshot: Uint8Array) => later(() => answeringLater<Uint8Array>(restoreAttention(snapshot)));

  it('resolves for the core engine answering by promises: forks, truncates, refusals, disposes and restores', async () => {
    const windows = attentionOptionsArbitrary({ maxWindow: 3 });
    await expect(checkCacheLawsAsync((options) => answeringLater<Uint8Array>(createAttention(options)), { numRuns: 40, restore: restoreLater })).resolves.toBeUndefined();
    await expect(checkCacheLawsAsync((options) => answeringLater<Uint8Array>(createAttention(options)), { numRuns: 40, optionsArbitrary: windows })).resolves.toBeUndefined();
    await expect(checkCacheLawsAsync(createAttention, { numRuns: 20 })).resolves.toBeUndefined();
  });

  it.each(BUGS)('finds what checkCacheLaws finds, the same counterexample in the same words: %s', async (bug, caught) => {
    const restore = (snapshot: NaiveSnapshot, options: AttentionOptions) => NaiveAttention.restore(snapshot, options, bug);
    const parameters = { seed: 11, numRuns: 60 };
    let sync: VerificationError | null = null;
    try {
      checkCacheLaws((options) => naiveAttention(options, bug), { ...parameters, restore });
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error;
      sync = error;
    }
    expect(sync !== null).toBe(caught.laws);
    const run = checkCacheLawsAsync((options) => answeringLater(naiveAttention(options, bug)), {
      ...parameters,
      restore: (snapshot: NaiveSnapshot, options) => later(() => answeringLater(restore(snapshot, options))),
    });
    if (sync === null) await expect(run).resolves.toBeUndefined();
    else expectSameFailure(sync, await asyncFailure(run), 'checkCacheLaws');
  });

  it('takes a lawful rejected truncate as a refusal, and catches an unlawful one', async () => {
    const windowShy = (engine: Attention, options: AttentionOptions): AsyncCachedAttention => ({
      ...answeringLater(engine),
      get length() {
        return engine.length;
      },
      truncate: (n) => (options.window === undefined ? later(() => engine.truncate(n)) : Promise.reject(new Error('not with a window'))),
      fork: () => later(() => windowShy(engine.fork(), options)),
    });
    const optionsArbitrary = attentionOptionsArbitrary().filter((o) => o.window !== undefined);
    const { mismatch, counterexample } = await asyncFailure(checkCacheLawsAsync((options) => windowShy(createAttention(options), options), { optionsArbitrary }));
    expect(mismatch).toMatchObject({ kind: 'threw', call: 'e0.truncate(0)' });
    expect(mismatch.description).toMatch(/^refused though no key its next query needs .*: Error: not with a window$/);
    expect(counterexample.operations).toEqual([{ type: 'truncate', engine: 0, length: 0 }]);
  });

  it('rejects bad parameters with INVALID_ARGUMENT, naming the check', async () => {
    await expect(checkCacheLawsAsync(createAttention, { maxOperations: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'maxOperations' } });
    await expect(checkCacheLawsAsync(createAttention, { restore: 5 as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'restore' } });
    await expect(checkCacheLawsAsync(createAttention, { steps: 5 } as never)).rejects.toMatchObject({ message: expect.stringContaining('checkCacheLawsAsync') });
  });

  it('the synchronous check still refuses an engine whose calls answer by promises, naming the first such call, and points to checkCacheLawsAsync', () => {
    const error = (() => {
      try {
        checkCacheLaws((options) => answeringLater(createAttention(options)) as unknown as CachedAttention, { numRuns: 5 });
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^checkCacheLaws: (e1 = )?e0\.(push|flush|fork|truncate)\(.*\) returned a promise; checkCacheLaws runs synchronous implementations .*checkCacheLawsAsync$/) });
  });
});
