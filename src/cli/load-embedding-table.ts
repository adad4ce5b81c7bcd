import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EmbeddingTable } from '../rx/index.js';
import { decodeEmbeddings } from '../rx/index.js';

// A variable, not a literal in `new URL(…)`: a bundler would otherwise copy the 4 MB file into the
// build. The path is the same from src/cli/ (tsx) and from dist/cli/ (the built bin).
const DATA_FILE = '../../data/embeddings-20k.bin';

/** Where the shipped GloVe table is on disk. */
function embeddingTablePath(): string {
  return fileURLToPath(new URL(DATA_FILE, import.meta.url));
}

/**
 * The shipped GloVe table (20,000 words, 100 dimensions, see docs/data.md) as an
 * {@link EmbeddingTable} that folds case. With `zeroFallback`, words it lacks get a zero vector
 * instead of throwing UNKNOWN_TOKEN.
 */
export function loadEmbeddingTable(zeroFallback = false): EmbeddingTable {
  const { words, dim, vectors } = decodeEmbeddings(new Uint8Array(readFileSync(embeddingTablePath())));
  return EmbeddingTable.fromMatrix(words, vectors, dim, zeroFallback ? { lowercase: true, fallback: new Float32Array(dim) } : { lowercase: true });
}
