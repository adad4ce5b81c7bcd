import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecentWords } from '../../src/cli/recent-words.js';

/** A stream drawn the way the CLI draws it: rows in order, each when `lookahead` more words have come (or at the end). */
const streams = fc.record({
  window: fc.integer({ min: 1, max: 12 }),
  sinks: fc.integer({ min: 0, max: 4 }),
  lookahead: fc.integer({ min: 0, max: 5 }),
  length: fc.integer({ min: 0, max: 150 }),
});

describe('RecentWords', () => {
  it('holds every word a row from the next one on can attend (the sinks, and positions above row − window), and none before', () => {
    fc.assert(
      fc.property(streams, ({ window, sinks, lookahead, length }) => {
        const words = new RecentWords({ window, sinks });
        const pushed: string[] = [];
        let row = 0;
        const check = (): void => {
          for (let p = 0; p < pushed.length; p++) {
            const attendable = p < sinks || p > row - window;
            expect(words.at(p)).toBe(attendable ? pushed[p] : undefined);
          }
          expect(words.at(pushed.length)).toBeUndefined();
          expect(words.length).toBe(pushed.length);
        };
        for (let p = 0; p < length; p++) {
          const word = `w${p}`;
          pushed.push(word);
          words.push(word);
          if (p - row === lookahead) {
            words.advance(row);
            check();
            row++;
          }
        }
        for (; row < length; row++) {
          words.advance(row);
          check();
        }
      }),
    );
  });

  it('stays bounded however long the stream: sinks + twice (window + lookahead) words at most', () => {
    fc.assert(
      fc.property(streams, fc.integer({ min: 500, max: 3000 }), ({ window, sinks, lookahead }, length) => {
        const words = new RecentWords({ window, sinks });
        let most = 0;
        for (let p = 0; p < length; p++) {
          words.push('word');
          if (p >= lookahead) words.advance(p - lookahead);
          most = Math.max(most, words.retained);
        }
        expect(most).toBeLessThanOrEqual(sinks + 2 * (window + lookahead));
      }),
      { numRuns: 30 },
    );
  });

  it('without a window forgets nothing', () => {
    const words = new RecentWords();
    for (let p = 0; p < 1000; p++) words.push(`w${p}`);
    words.advance(999);
    expect(words.retained).toBe(1000);
    expect(words.at(0)).toBe('w0');
  });

  it('an array reads the same as RecentWords without a window (both are WordsByPosition)', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 20 }), fc.integer({ min: 0, max: 25 }), (list, position) => {
        const words = new RecentWords();
        for (const w of list) words.push(w);
        expect(words.at(position)).toBe(list.at(position));
        expect(words.length).toBe(list.length);
      }),
    );
  });
});
