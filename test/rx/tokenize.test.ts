import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tokenize } from '../../src/rx/index.js';

describe('tokenize', () => {
  it('splits on any run of whitespace', () => {
    expect(tokenize('the  dog\tran\naround\u00a0it')).toEqual(['the', 'dog', 'ran', 'around', 'it']);
  });

  it("splits on Unicode's White_Space, as documented: NEL (U+0085) splits, a BOM (U+FEFF, a format character) does not", () => {
    // Found by a bug hunt: JavaScript's \s differs from White_Space on exactly these two.
    expect(tokenize('dog\u0085cat')).toEqual(['dog', 'cat']);
    expect(tokenize('dog\uFEFFcat')).toEqual(['dog\uFEFFcat']);
    expect(tokenize('\uFEFFthe dog')).toEqual(['the', 'dog']);
  });

  it('strips punctuation and symbols from both ends of a word', () => {
    expect(tokenize('"Hello," (she) said… «bonjour»! $5 #tag')).toEqual(['Hello', 'she', 'said', 'bonjour', '5', 'tag']);
  });

  it('splits at the dashes longer than a hyphen and at an ellipsis, which join words without spaces (a browser audit: "stop—the" was one unknown word)', () => {
    expect(tokenize('stop—the dog–cat 1‒2 then―now wait…what a⸺b c⸻d')).toEqual(['stop', 'the', 'dog', 'cat', '1', '2', 'then', 'now', 'wait', 'what', 'a', 'b', 'c', 'd']);
    // A hyphen, a non-breaking hyphen and the hyphen of U+2010 stay inside the word.
    expect(tokenize('well-known non\u2011stop self\u2010made')).toEqual(['well-known', 'non\u2011stop', 'self\u2010made']);
  });

  it('keeps punctuation inside a word', () => {
    expect(tokenize("don't stop: well-known 3.14 U.S.")).toEqual(["don't", 'stop', 'well-known', '3.14', 'U.S']);
  });

  it('drops pieces that are only punctuation or symbols, and gives nothing for empty or blank text', () => {
    expect(tokenize('wait — ... what ?!')).toEqual(['wait', 'what']);
    expect(tokenize('')).toEqual([]);
    expect(tokenize(' \n\t ')).toEqual([]);
  });

  it('trims by code points, as a twin over an array of them does, lone surrogates included', () => {
    // The twin is the former implementation: it spread every piece into an array of code points,
    // 16–30 bytes a character (a resource hunt: a 64 MB word took 2 GB of heap).
    const ORNAMENT = /^[\p{P}\p{S}\p{Cf}\p{Me}\p{Variation_Selector}]$/u;
    const MARK = /^\p{M}$/u;
    const twin = (text: string): string[] =>
      text.split(/[\p{White_Space}\u2012-\u2015\u2026\u2E3A\u2E3B]+/u).flatMap((piece) => {
        const chars = [...piece];
        let start = 0;
        while (start < chars.length && (ORNAMENT.test(chars[start]!) || MARK.test(chars[start]!))) start++;
        let end = chars.length;
        for (let i = chars.length - 1; i >= start; i--) {
          if (ORNAMENT.test(chars[i]!)) end = i;
          else if (!MARK.test(chars[i]!)) break;
        }
        const word = chars.slice(start, end).join('');
        return /[\p{L}\p{N}]/u.test(word) ? [word] : [];
      });
    const unit = fc.oneof(fc.constantFrom('a', '7', ' ', '.', '😀', '\u0301', '\u20e3', '\ufe0f', '\u200d', '\ud83d', '\ude00', '\udbff\udfff'), fc.string({ unit: 'binary', maxLength: 3 }));
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 16 }), (units) => {
        const text = units.join('');
        expect(tokenize(text)).toEqual(twin(text));
      }),
      { numRuns: 3000 },
    );
    expect(tokenize('\ud83ddog\ude00 😀cat\ud83d')).toEqual(['\ud83ddog\ude00', 'cat\ud83d']);
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

  it('no word is empty, holds whitespace, lacks a letter or number, or starts or ends with punctuation, a symbol or an invisible character', () => {
    const emojiOrText = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.array(fc.oneof(fc.constantFrom(...EMOJI), fc.string({ unit: 'grapheme', maxLength: 4 })), { maxLength: 12 }).map((parts) => parts.join('')));
    fc.assert(
      fc.property(emojiOrText, (text) => {
        for (const word of tokenize(text)) {
          expect(word).not.toMatch(/\s/u);
          expect(word).toMatch(/[\p{L}\p{N}]/u);
          expect(word).not.toMatch(/^[\p{P}\p{S}\p{M}\p{Cf}]|[\p{P}\p{S}\p{Cf}\p{Me}\p{Variation_Selector}]$/u);
        }
      }),
    );
  });
});

// Emoji as people type them: each is one grapheme built from several code points.
const EMOJI = [
  '\u2764\uFE0F', // ❤️ heart + variation selector 16 (emoji presentation)
  '\u{1F44D}\u{1F3FD}', // 👍🏽 thumbs up + medium skin tone
  '\u{1F44B}\u{1F3FF}', // 👋🏿 waving hand + dark skin tone
  '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}', // 👨‍👩‍👧 family: three people joined by zero-width joiners
  '\u{1F469}\u{1F3FD}\u200D\u{1F4BB}', // 👩🏽‍💻 technologist: skin tone and a joiner
  '\u{1F1EB}\u{1F1F7}', // 🇫🇷 flag: two regional indicators
  '\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}', // 🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland: black flag + tag characters
  '#\uFE0F\u20E3', // #️⃣ keycap: '#', variation selector, combining enclosing keycap
  '\u263A\uFE0E', // ☺︎ text presentation (variation selector 15)
];

describe('tokenize: emoji and invisible characters', () => {
  it('an emoji standing alone is dropped, with every invisible character it is built from', () => {
    expect(tokenize('I \u2764\uFE0F NY')).toEqual(['I', 'NY']);
    expect(tokenize('family \u{1F468}\u200D\u{1F469}\u200D\u{1F467} time')).toEqual(['family', 'time']);
    expect(tokenize('great \u{1F44D}\u{1F3FD} job, vive la \u{1F1EB}\u{1F1F7}')).toEqual(['great', 'job', 'vive', 'la']);
    expect(tokenize('\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} #\uFE0F\u20E3')).toEqual([]);
  });

  it('an emoji glued to a word comes off it', () => {
    expect(tokenize('love\u2764\uFE0F \u{1F44B}\u{1F3FF}hi\u{1F44B}\u{1F3FF} code\u{1F469}\u{1F3FD}\u200D\u{1F4BB}')).toEqual(['love', 'hi', 'code']);
  });

  it('a keycap gives its digit', () => {
    expect(tokenize('press 1\uFE0F\u20E3 or 0\u20E3')).toEqual(['press', '1', 'or', '0']);
  });

  it('a lone combining mark or joiner is no word; a combining accent on a letter stays on it', () => {
    expect(tokenize('a \u0301 b \u200D \uFE0F')).toEqual(['a', 'b']);
    expect(tokenize('cafe\u0301 \u0301e\u0301! \u0928\u092E\u0938\u094D\u0924\u0947')).toEqual(['cafe\u0301', 'e\u0301', '\u0928\u092E\u0938\u094D\u0924\u0947']);
  });

  it('words with accents, with emoji standing between them or glued to either end, come back unchanged', () => {
    const letter = fc.constantFrom('a', 'Z', 'é', 'e\u0301', 'ß', 'ж', '\u0915\u093F', '7');
    const word = fc.array(letter, { minLength: 1, maxLength: 6 }).map((letters) => letters.join(''));
    const emoji = fc.array(fc.constantFrom(...EMOJI), { maxLength: 2 }).map((parts) => parts.join(''));
    const decorated = fc.record({ word, before: emoji, after: emoji, apart: emoji });
    fc.assert(
      fc.property(fc.array(decorated, { maxLength: 8 }), (pieces) => {
        const text = pieces.map(({ word, before, after, apart }) => `${before}${word}${after} ${apart}`).join(' ');
        expect(tokenize(text)).toEqual(pieces.map((piece) => piece.word));
      }),
    );
  });
});
