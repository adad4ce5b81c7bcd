/**
 * attnstream's benchmark: `npm run bench` (flags: `npm run bench -- --help`). Writes
 * docs/performance.md and docs/performance-steps.svg; see docs/performance.md for what each section
 * measures and how.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { loadImplementations } from './implementations.js';
import { cpuTimes, describeMachine, simdFlags, stealShare } from './machine.js';
import { parseOptions, USAGE } from './options.js';
import type { BenchOptions } from './options.js';
import { Progress } from './progress.js';
import { performanceMarkdown } from './report/markdown.js';
import type { BenchResults } from './report/results.js';
import { floorBandwidth, stepPlot } from './report/svg-plot.js';
import { runBandwidth } from './sections/bandwidth.js';
import { AGREEMENT, runGrid, StepHistory } from './sections/grid.js';
import { runGroupedQuery } from './sections/grouped-query.js';
import { runMemory } from './sections/memory.js';
import { runBeams } from './sections/beams.js';
import { HALF_DTYPES, runHalfWeights } from './sections/half-weights.js';
import { runLinear } from './sections/linear.js';
import { runPrefill } from './sections/prefill.js';
import { runLongPrompt } from './sections/long-prompt.js';
import { runRecompute } from './sections/recompute.js';
import { runCacheOptions } from './sections/cache-options.js';
import { runRxOverhead } from './sections/rx-overhead.js';
import { runSharpness } from './sections/sharpness.js';
import { runStream } from './sections/stream.js';

const PLOT_FILE = 'performance-steps.svg';

/** Runs the sections `options` asks for and writes the report; returns the results. */
export async function runBench(options: BenchOptions): Promise<BenchResults> {
  const started = performance.now();
  const cpuAtStart = cpuTimes();
  const { profile, sections } = options;
  const progress = new Progress(0, options.quiet);
  progress.section(`starting implementations (${[...options.implementations].join(', ')})`);
  const impls = await loadImplementations(options.implementations);
  const results: BenchResults = {
    command: options.command,
    profile: profile.name,
    settleMs: profile.settleMs,
    machine: describeMachine(),
    versions: impls.versions,
    settings: { simd: simdFlags(), ...impls.settings },
    unavailable: impls.skipped,
    labels: Object.fromEntries(impls.list.map((i) => [i.id, i.label])),
    seconds: 0,
  };
  const history = new StepHistory();
  try {
    if (sections.has('bandwidth')) {
      progress.section('memory bandwidth');
      results.bandwidth = await runBandwidth(profile.bandwidthMiB, impls.native);
    }
    if (sections.has('grid')) {
      progress.section(`decode-step grid: ${profile.cells.length} cells × ${impls.list.length} implementations`);
      results.grid = await runGrid(profile, impls, history, progress);
    }
    if (sections.has('stream')) {
      progress.section(`stream ${profile.stream.tokens} tokens`);
      const rows = await runStream(profile, impls, history, progress);
      results.stream = { heads: profile.stream.heads, headDim: profile.stream.headDim, tokens: profile.stream.tokens, rows };
    }
    if (sections.has('recompute')) {
      progress.section('incremental vs recompute');
      results.recompute = { heads: profile.recompute.heads, headDim: profile.recompute.headDim, rows: runRecompute(profile, progress) };
    }
    if (sections.has('prefill')) {
      progress.section('prefill');
      results.prefill = await runPrefill(profile, progress);
    }
    if (sections.has('long-prompt')) {
      progress.section('long prompt');
      results.longPrompt = runLongPrompt(profile, progress);
    }
    if (sections.has('beams')) {
      progress.section('beams');
      results.beams = runBeams(profile, progress);
    }
    if (sections.has('linear')) {
      progress.section('linear');
      results.linear = runLinear(profile, progress);
    }
    if (sections.has('half-weights')) {
      progress.section('16-bit weights');
      results.halfWeights = runHalfWeights(profile, progress);
    }
    if (sections.has('sharpness')) {
      progress.section('softmax sharpness');
      results.sharpness = runSharpness(profile, progress);
    }
    if (sections.has('gqa')) {
      progress.section('grouped-query heads');
      results.groupedQuery = runGroupedQuery(profile, progress);
    }
    if (sections.has('options')) {
      progress.section('cache options');
      results.cacheOptions = runCacheOptions(profile, progress);
    }
    if (sections.has('rx')) {
      progress.section('rx overhead');
      results.rx = await runRxOverhead(profile, progress);
    }
    if (sections.has('memory')) {
      progress.section('memory per token');
      results.memory = runMemory(profile, progress);
    }
  } finally {
    await impls.close();
  }
  results.machine.loadEnd = loadavg()[0]!;
  results.machine.steal = stealShare(cpuAtStart, cpuTimes());
  results.seconds = (performance.now() - started) / 1000;

  await mkdir(options.outDir, { recursive: true });
  const plot = results.grid && results.grid.length > 0 ? PLOT_FILE : null;
  if (plot !== null) {
    const gbps = floorBandwidth(results.bandwidth);
    await writeFile(join(options.outDir, plot), stepPlot(results.grid!, Object.keys(results.labels), gbps));
  }
  await writeFile(join(options.outDir, 'performance.md'), performanceMarkdown(results, plot));
  if (options.jsonPath !== null) await writeFile(options.jsonPath, `${JSON.stringify(results, null, 1)}\n`);
  progress.finish(`wrote ${join(options.outDir, 'performance.md')}${plot === null ? '' : ` and ${join(options.outDir, plot)}`}`);
  return results;
}

/** Every place where an implementation's output disagreed with attnstream's. */
export function disagreements(r: BenchResults): string[] {
  const out: string[] = [];
  for (const c of r.grid ?? []) {
    for (const row of c.rows) if (row.error !== undefined && row.error > AGREEMENT) out.push(`${row.id} at H=${c.cell.heads} D=${c.cell.headDim} n=${c.cell.n}: ${row.error}`);
  }
  for (const row of r.stream?.rows ?? []) if (row.error !== undefined && row.error > AGREEMENT) out.push(`${row.id} stream: ${row.error}`);
  for (const row of r.recompute?.rows ?? []) {
    for (const [name, e] of [['batchAttention', row.batch], ['re-project', row.reproject]] as const) {
      if (e.error !== undefined && e.error > AGREEMENT) out.push(`recompute ${name} n=${row.n}: ${e.error}`);
    }
  }
  for (const row of r.prefill?.rows ?? []) if (row.error > AGREEMENT) out.push(`prefill pushMany vs push at dim ${row.dim}: ${row.error}`);
  for (const row of r.longPrompt?.rows ?? []) {
    if (row.error > AGREEMENT) out.push(`long prompt pushMany vs push after ${row.context} tokens: ${row.error}`);
    if (row.beamsError > AGREEMENT) out.push(`long prompt pushEach vs push per beam after ${row.context} tokens: ${row.beamsError}`);
  }
  for (const row of r.beams?.rows ?? []) if (row.error > AGREEMENT) out.push(`beams pushEach vs push at dim ${row.dim}: ${row.error}`);
  for (const row of r.linear ?? []) if (row.error > AGREEMENT) out.push(`linear ${row.rows}×${row.cols} vs plain loops: ${row.error}`);
  for (const row of r.halfWeights ?? []) {
    for (const dtype of HALF_DTYPES) if (!row.halves[dtype].sameBits) out.push(`${dtype} ${row.rows}×${row.cols} vs float32 over the rounded weights: not the same bits`);
  }
  if (r.sharpness && r.sharpness.error > AGREEMENT) out.push(`softmax sharpness, TypeScript vs WebAssembly kernels: ${r.sharpness.error}`);
  if (r.rx && !('skipped' in r.rx) && r.rx.error > AGREEMENT) out.push(`rx vs direct: ${r.rx.error}`);
  return out;
}

async function main(): Promise<void> {
  // Ctrl-C exits normally, so exit handlers remove the compiled C reference.
  process.once('SIGINT', () => process.exit(130));
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const results = await runBench(options);
  const bad = disagreements(results);
  if (bad.length > 0) {
    // A figure for a wrong answer is worse than none: say so and fail.
    process.stderr.write(`outputs disagree with attnstream's:\n${bad.map((b) => `  ${b}`).join('\n')}\n`);
    process.exitCode = 1;
  }
}

await main();
