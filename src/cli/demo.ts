// `npm start`: the note's two sentences streamed word by word through embed and attend over the
// shipped GloVe vectors, a terminal heatmap row per word, what that does and does not tell about
// "it", the same run with a window and with several heads, and an HTML file with every heatmap.
//
//   npm start                     (= tsx src/cli/demo.ts)
//   npm start -- --out-dir /tmp   (where the HTML file goes; default out/)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { concatMap, from, lastValueFrom, of, delay, tap, toArray } from 'rxjs';
import type { AttentionOptions } from '../index.js';
import { tokenize } from '../rx/index.js';
import type { EmbeddingTable } from '../rx/index.js';
import type { AttentionMap, AttentionRow } from './attention-row.js';
import { CliError, EXIT } from './cli-error.js';
import { htmlReport } from './html-report.js';
import type { ReportSection } from './html-report.js';
import { loadEmbeddingTable } from './load-embedding-table.js';
import { rowWeights, weightAt } from './row-weights.js';
import { streamAttention } from './stream-attention.js';
import { terminalHeader, terminalRows } from './terminal-heatmap.js';
import { quotedText } from './terminal-text.js';
import { selfWeight, topAttended } from './top-attended.js';
import { reportStdoutFailures } from './stdout-failures.js';
import { autoColor } from './auto-color.js';

export const SENTENCES = [
  'The dog ran around the park because it was excited',
  'The dog ran around the park because it was open',
] as const;

/** Where the demo prints and how. */
export interface DemoOptions {
  readonly write: (line: string) => void;
  /** Folder for the HTML file; created if missing. */
  readonly outDir: string;
  readonly color?: boolean;
  /** Pause between words, so a terminal shows the stream arriving. Default 0. */
  readonly delayMs?: number;
  readonly table?: EmbeddingTable;
}

/** What the demo found, for tests and for the summary it prints. */
export interface DemoResult {
  readonly htmlPath: string;
  readonly maps: readonly AttentionMap[];
}

/** Runs the demo; resolves when the HTML file is written. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { write } = options;
  // Before any work: a folder that cannot be made fails at once, not after the whole demo.
  mkdirSync(options.outDir, { recursive: true });
  const table = options.table ?? loadEmbeddingTable();
  const dim = table.dim;
  const seed: AttentionOptions = { dim, scale: 1 / Math.sqrt(dim) };
  const stream = (sentence: string, attention: AttentionOptions): Promise<AttentionMap> =>
    streamSentence(sentence, table, attention, options);

  write('attnstream demo: attention over static word vectors, one word at a time');
  write(`  score(x_i, x_j) = x_i · x_j / √${dim}    α_ij = softmax over j ≤ i    a_i = Σ_j α_ij x_j`);
  write(`  x = GloVe 6B vectors (${table.size.toLocaleString('en-US')} words × ${dim} dims, data/embeddings-20k.bin); seed mode: no learned projections`);
  write('  each row: the word, its weight on every word so far (cell j = word j, shade ∝ √weight), its own weight, its top 3 other words');

  const [excited, open] = [await stream(SENTENCES[0], seed), await stream(SENTENCES[1], seed)] as const;
  const unscaled = await lastValueFrom(from(tokenize(SENTENCES[0])).pipe(streamAttention(table, { dim }), toArray()));
  const lookahead = await Promise.all(SENTENCES.map((s) => lastValueFrom(from(tokenize(s)).pipe(streamAttention(table, { ...seed, lookahead: 2 }), toArray()))));

  const facts = findings(excited, open, unscaled, lookahead, dim);
  write('');
  write('What this does and does not resolve for "it"');
  for (const line of facts) write(`  - ${line}`);

  write('');
  write('The same run with a window of 4 words (each word sees itself and the 3 before it; older keys are evicted from the cache):');
  const windowed = await stream(SENTENCES[0], { ...seed, window: 4 });
  write('');
  write(`The same run with 4 heads (seed mode splits the ${dim} numbers into 4 slices of ${dim / 4}, scale 1/√${dim / 4}; the slices are arbitrary, not learned):`);
  const heads = await stream(SENTENCES[0], { dim, heads: 4, scale: 1 / Math.sqrt(dim / 4) });
  const it = heads.rows[7]!;
  write(`  "it" gives dog ${it.weights.map((w, h) => `${weightAt(it, Float64Array.from(w), 1).toFixed(3)} (h${h})`).join(', ')}: heads disagree, yet none is about reference.`);

  const sections: ReportSection[] = [
    { title: `"${SENTENCES[0]}"`, paragraphs: ['Seed mode, scale 1/√100.'], map: excited },
    { title: `"${SENTENCES[1]}"`, paragraphs: ['Seed mode, scale 1/√100.'], map: open },
    { title: 'Window of 4 words', paragraphs: ['Each word attends itself and the 3 words before it; grey cells were never attended or were evicted.'], map: windowed },
    { title: '4 heads', paragraphs: ['Seed mode splits each vector into 4 slices of 25 numbers; each head scores one slice (scale 1/5).'], map: heads },
  ];
  const htmlPath = resolve(join(options.outDir, 'attention-demo.html'));
  writeFileSync(htmlPath, htmlReport('attnstream: which earlier words each word attends', sections, facts));
  write('');
  write(`Heatmaps of all four runs: ${htmlPath}`);
  return { htmlPath, maps: [excited, open, windowed, heads] };
}

/** Streams one sentence, printing its rows as they come, and resolves with its map. */
async function streamSentence(sentence: string, table: EmbeddingTable, attention: AttentionOptions, options: DemoOptions): Promise<AttentionMap> {
  const words = tokenize(sentence);
  const pause = options.delayMs ?? 0;
  options.write('');
  options.write(`"${sentence}"`);
  options.write(terminalHeader(words));
  const rows = await lastValueFrom(
    from(words).pipe(
      concatMap((word) => (pause > 0 ? of(word).pipe(delay(pause)) : of(word))),
      streamAttention(table, attention),
      tap((row) => {
        for (const line of terminalRows(row, words, { color: options.color ?? false, length: words.length })) options.write(line);
      }),
      toArray(),
    ),
  );
  return { words, rows };
}

/** The honest summary, every number computed from this run. */
function findings(excited: AttentionMap, open: AttentionMap, unscaled: readonly AttentionRow[], lookahead: readonly (readonly AttentionRow[])[], dim: number): string[] {
  const IT = excited.words.indexOf('it');
  const DOG = excited.words.indexOf('dog');
  const PARK = excited.words.indexOf('park');
  const LAST = excited.words.length - 1;
  const itA = excited.rows[IT]!;
  const itB = open.rows[IT]!;
  const difference = Math.max(...Array.from(rowWeights(itA), (w, n) => Math.abs(w - rowWeights(itB)[n]!)));
  const w = (row: AttentionRow, position: number): string => weightAt(row, rowWeights(row), position).toFixed(3);
  const top = topAttended(itA, excited.words, 3).map((t) => `${t.word} ${t.weight.toFixed(3)}`).join(', ');
  const lastLine = (map: AttentionMap): string => {
    const row = map.rows[LAST]!;
    const park = weightAt(row, rowWeights(row), PARK);
    const dog = weightAt(row, rowWeights(row), DOG);
    return `"${row.word}" gives park ${park.toFixed(3)} and dog ${dog.toFixed(3)} (${park > dog ? 'park' : 'dog'} ${(Math.max(park, dog) / Math.min(park, dog)).toFixed(1)}×)`;
  };
  const [seesExcited, seesOpen] = lookahead.map((rows) => rows[IT]!);
  return [
    `"it" is computed the moment it arrives, before "excited" or "open" exist: its row is ${difference === 0 ? 'identical' : `the same up to ${difference.toExponential(1)}`} in both sentences. Causal attention cannot use words that come later.`,
    `"it" gives itself ${selfWeight(itA).toFixed(3)} and spreads the rest mostly over function words (${top}); dog gets ${w(itA, DOG)} and park ${w(itA, PARK)}. A pronoun's static vector sits near other frequent words, not near the noun it stands for.`,
    `The last word: ${lastLine(open)}; ${lastLine(excited)}. Word similarity links "open" with "park" more than "excited" with "dog", and none of it flows back into "it".`,
    `With lookahead 2, "it" also sees "was excited" / "was open" and gives the last word ${w(seesExcited!, LAST)} / ${w(seesOpen!, LAST)}; dog goes ${w(seesExcited!, DOG)} / ${w(seesOpen!, DOG)} and park ${w(seesExcited!, PARK)} / ${w(seesOpen!, PARK)}. Still unresolved.`,
    `Without the 1/√${dim} scale (score = x_i · x_j as in the note) scores reach 30–40 and "it" gives itself ${selfWeight(unscaled[IT]!).toFixed(3)}: every word attends only itself.`,
    'Resolving "it" takes what training adds: learned projections (score = W_q x_i · W_k x_j) that make a pronoun query match the right noun, and several layers so a later word can change what "it" means. The engine computes exactly that attention when given trained weights; static vectors alone only measure word similarity.',
  ];
}

/**
 * The demo's command line: `--out-dir DIR` (or `--out-dir=DIR`), nothing else.
 *
 * @throws CliError exit 2 for another argument or a flag without its folder.
 */
export function demoArguments(argv: readonly string[]): { readonly outDir: string } {
  let outDir = 'out';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = arg === '--out-dir' ? argv[++i] : arg.startsWith('--out-dir=') ? arg.slice('--out-dir='.length) : null;
    if (value === null) throw new CliError(EXIT.usage, `unknown argument ${quotedText(arg)}; the demo takes only --out-dir DIR`);
    if (value === undefined || value === '') throw new CliError(EXIT.usage, '--out-dir needs a folder');
    outDir = value;
  }
  return { outDir };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  reportStdoutFailures('attnstream demo');
  const tty = process.stdout.isTTY === true;
  try {
    const { outDir } = demoArguments(process.argv.slice(2));
    await runDemo({ write: (line) => process.stdout.write(`${line}\n`), outDir, color: autoColor(tty, process.env), delayMs: tty ? 40 : 0 });
  } catch (error) {
    process.stderr.write(`attnstream demo: ${(error as Error).message}\n`);
    process.exitCode = error instanceof CliError ? error.exitCode : EXIT.failure;
  }
}
