// A sentence streamed word by word through attnstream/rx: each word is looked up in the shipped
// GloVe table (20,000 words, 100 dimensions), appended to the cache, and attended over the words
// so far. For each word we print the earlier words it attends most.
//
// Seed mode (no projections): score = x_i · x_j / 10, so a word attends the earlier words whose
// GloVe vectors point its way. The 1/10 (1/√dim) keeps the softmax from putting everything on the
// word itself, whose score x_i · x_i is always large.
//
//   npx tsx examples/reactive-text.ts ["your own sentence"]
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { from, lastValueFrom, map, toArray } from 'rxjs';
import { attend, embed, EmbeddingTable, tokenize } from '../src/rx/index.js';
import { decodeEmbeddings } from '../src/rx/index.js';

export const SENTENCE = 'The dog ran around the park because it was excited.';

/** One word of the stream and the earlier words it attends most, heaviest first. */
export interface AttendedWord {
  readonly word: string;
  readonly index: number;
  /** The weight the word gives itself. */
  readonly self: number;
  readonly top: readonly { readonly word: string; readonly index: number; readonly weight: number }[];
}

/** The shipped table, lower-cased lookups (GloVe 6B words are lower case); unknown words get a zero vector. */
export function loadTable(): EmbeddingTable {
  const bytes = new Uint8Array(readFileSync(new URL('../data/embeddings-20k.bin', import.meta.url)));
  const { words, dim, vectors } = decodeEmbeddings(bytes);
  return EmbeddingTable.fromMatrix(words, vectors, dim, { lowercase: true, fallback: new Float32Array(dim) });
}

/** Streams `sentence` through embed and attend; resolves with each word's most attended earlier words. */
export async function main(sentence = SENTENCE, table = loadTable(), topCount = 3): Promise<AttendedWord[]> {
  const words = tokenize(sentence);
  const attended = from(words).pipe(
    embed(table),
    attend({ dim: table.dim, scale: 1 / Math.sqrt(table.dim), withWeights: true }),
    map((step): AttendedWord => {
      const weights = step.weights![0]!;
      const earlier = Array.from(step.positions!, (position, n) => ({ word: words[position]!, index: position, weight: weights[n]! }))
        .filter((entry) => entry.index < step.index)
        .sort((a, b) => b.weight - a.weight);
      return { word: words[step.index]!, index: step.index, self: weights[weights.length - 1]!, top: earlier.slice(0, topCount) };
    }),
  );
  return lastValueFrom(attended.pipe(toArray()));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const row of await main(process.argv[2] ?? SENTENCE)) {
    const top = row.top.map((entry) => `${entry.word} ${entry.weight.toFixed(2)}`).join(', ');
    console.log(`${row.word.padEnd(10)} self ${row.self.toFixed(2)}   ${top === '' ? '(first word)' : top}`);
  }
}
