import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tokenize } from '../../src/rx/index.js';

describe('tokenize', () => {
  it('splits on any run of whitespace', () => {
    expect(tokenize('the  dog\tran\naround\u00a0it')).toEqual(['the', 'dog', 'ran', 'around', 'it']);
  });

  it('strips punctuation and symbols from both ends of a word', () => {
    expect(tokenize('"Hello," (she) said… «bonjour»! $5 #tag')).toEqual(['Hello', 'she', 'said', 'bonjour', '5', 'tag']);
  });

  it('keeps punctuation inside a word', () => {
    expect(tokenize("don't stop: well-known 3.14 U.S.")).toEqual(["don't", 'stop', 'well-known', '3.14', 'U.S']);
  });

  it('drops pieces that are only punctuation, and gives nothing for empty or blank text', () => {
    expect(tokenize('wait — ... what ?!')).toEqual(['wait', 'what']);
    expect(tokenize('')).toEqual([]);
    expect(tokenize(' \n\t ')).toEqual([]);
  });

  it('keeps case as written', () => {
    expect(tokenize('The THE the')).toEqual(['The', 'THE', 'the']);
  });

  it('joining the words of letters and digits with spaces gives them back unchanged', () => {
    const word = fc.stringMatching(/^[a-zA-Z0-9]+$/);
    fc.assert(
      fc.property(fc.array(word, { maxLength: 20 }), fc.constantFrom(' ', '  ', '\n', ', ', '. '), (words, separator) => {
        expect(tokenize(words.join(separator))).toEqual(words);
      }),
    );
  });

  it('no word is empty, holds whitespace, or starts or ends with punctuation', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), (text) => {
        for (const word of tokenize(text)) {
          expect(word).not.toBe('');
          expect(word).not.toMatch(/\s/u);
          expect(word).not.toMatch(/^[\p{P}\p{S}]|[\p{P}\p{S}]$/u);
        }
      }),
    );
  });
});
