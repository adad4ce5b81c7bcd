import { describe, expect, it } from 'vitest';
import { createAttention } from '../../src/index.js';
import type { AttentionOptions } from '../../src/index.js';
import { checkCacheLaws, checkCacheLawsAsync, checkIncremental, checkIncrementalAsync } from '../../src/testing/index.js';
import { naiveAttention } from './naive-attention.js';
import type { Bug } from './naive-attention.js';
import { verificationFailure } from './verification-failure.js';

// Found by a review of the async checks: no engine a check made was ever disposed (but by a drawn
// dispose operation), so a run of cases over engines on a GPU or in a worker piled up their
// resources, failing cases' engines too.

interface Disposable {
  dispose?(): unknown;
  fork?(): unknown;
}

/** `make`, each engine it makes (and each fork of one) counted, and counted again when disposed. */
function counting<E extends Disposable>(make: (options: AttentionOptions) => E, disposeLater = false) {
  const count = { made: 0, disposed: 0 };
  const wrap = <T extends Disposable>(engine: T): T => {
    count.made++;
    const { dispose, fork } = engine;
    return Object.assign(engine, {
      dispose: () => {
        count.disposed++;
        const done = dispose?.call(engine);
        return disposeLater ? Promise.resolve(done) : done;
      },
      ...(fork === undefined ? {} : { fork: () => wrap(fork.call(engine) as T) }),
    });
  };
  return { factory: (options: AttentionOptions) => wrap(make(options)), count };
}

const naive = (bug: Bug) => (options: AttentionOptions) => naiveAttention(options, bug);

describe('the checks release every engine they make, pass or fail', () => {
  it.each([
    ['checkIncremental', checkIncremental, 'scale-twice'],
    ['checkCacheLaws (forks and fresh replays too)', checkCacheLaws, 'fork-shares-cache'],
  ] as const)('%s', (_, check, bug) => {
    const passing = counting(createAttention);
    check(passing.factory, { numRuns: 30 });
    const failing = counting(naive(bug));
    verificationFailure(() => check(failing.factory, { numRuns: 100 }));
    for (const { count } of [passing, failing]) {
      expect(count.made).toBeGreaterThanOrEqual(30);
      expect(count.disposed).toBe(count.made);
    }
  });

  it('a synchronous engine whose dispose returns a promise is not refused for the release (a drawn dispose, a law the check judges, is)', () => {
    const later = counting(createAttention, true);
    expect(() => checkIncremental(later.factory, { numRuns: 10 })).not.toThrow();
    expect(later.count.disposed).toBe(later.count.made);
    expect(() => checkCacheLaws(later.factory, { numRuns: 50 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^checkCacheLaws: e\d+\.dispose\(\) returned a promise/) }));
  });

  it('the asynchronous checks too, awaiting each dispose', async () => {
    const engines = counting(createAttention, true);
    await checkIncrementalAsync(engines.factory, { numRuns: 20 });
    await checkCacheLawsAsync(engines.factory, { numRuns: 20 });
    expect(engines.count.made).toBeGreaterThan(40);
    expect(engines.count.disposed).toBe(engines.count.made);
  });
});
