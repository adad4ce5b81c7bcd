import { accessSync, constants, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { catchError, filter, firstValueFrom, from, lastValueFrom, map, merge, Subject, takeUntil, takeWhile, tap, throwError } from 'rxjs';
import { AttentionError, resolveOptions } from '../index.js';
import type { AttentionOptions } from '../index.js';
import type { AttentionMap, AttentionRow } from './attention-row.js';
import { CliError, EXIT, usageError } from './cli-error.js';
import { autoColor } from './auto-color.js';
import { checkReportSize } from './report-size.js';
import { htmlReport } from './html-report.js';
import { stdinWords, textWords, wordPlace } from './input-words.js';
import type { InputWord } from './input-words.js';
import { jsonReport } from './json-report.js';
import { loadEmbeddingTable } from './load-embedding-table.js';
import { parseArguments } from './parse-arguments.js';
import type { CliArguments } from './parse-arguments.js';
import { RecentWords } from './recent-words.js';
import { streamAttention } from './stream-attention.js';
import { svgHeatmap } from './svg-heatmap.js';
import { terminalHeader, terminalRows } from './terminal-heatmap.js';
import { quotedText, terminalJson, visibleText } from './terminal-text.js';
import { USAGE } from './usage.js';

/** The streams the command reads and writes; tests pass their own. */
export interface CliIo {
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  readonly stdout: {
    /** As a Node stream's: false asks the writer to wait for 'drain'. */
    write(text: string): unknown;
    readonly isTTY?: boolean;
    readonly columns?: number;
    /** When given, reading stdin pauses while written rows wait (write returned false) until 'drain', and so does writing a heatmap file. */
    once?(event: 'drain', listener: () => void): unknown;
    /** When given, a write error (EPIPE: the reader went away, as with `| head`) ends the run. */
    on?(event: 'error', listener: (error: NodeJS.ErrnoException) => void): unknown;
  };
  readonly stderr: { write(text: string): unknown };
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const LABEL_WIDTH = 12;
/** How many words not in the table the closing message lists (it counts them all). */
const LISTED_UNKNOWN = 10;
/** Set in the environment to see an unexpected error's stack instead of its one-line message. */
const DEBUG_VARIABLE = 'ATTNSTREAM_DEBUG';

/**
 * Runs `attnstream` with `argv` (the arguments after the command name) and resolves with the exit
 * code; it never throws and never calls process.exit, so tests can run it in-process.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const args = parseArguments(argv);
    if (args.help) {
      io.stdout.write(USAGE);
      return EXIT.ok;
    }
    if (args.version) {
      io.stdout.write(`${readVersion()}\n`);
      return EXIT.ok;
    }
    if (args.text === null && io.stdin.isTTY === true && !argv.includes('-')) {
      throw usageError('no text: pass it as arguments, pipe it into stdin, or give "-" to type lines');
    }
    await attendInput(args, io);
    return EXIT.ok;
  } catch (error) {
    const [code, message] = describe(error, io.env ?? {});
    io.stderr.write(`attnstream: ${message}\n`);
    return code;
  }
}

async function attendInput(args: CliArguments, io: CliIo): Promise<void> {
  if (args.output !== undefined && args.output !== '-') checkWritable(args.output);
  const table = loadEmbeddingTable(args.unknown === 'zero');
  const options = engineOptions(args, table.dim);

  const toStdout = args.output === '-';
  const env = io.env ?? {};
  const color = args.color === 'auto' ? autoColor(io.stdout.isTTY === true, env) : args.color;
  const { maxColumns, width } = rowLayout(io.stdout);
  const warnUtf8 = invalidUtf8Warning(io);
  const textInput = args.text === null ? null : textWords(args.text);
  if (args.text?.includes('\uFFFD') === true) warnUtf8(0);

  // Memory: only what the rows still to come can attend (the window and sinks), unless a heatmap
  // file wants the whole run.
  const recent = new RecentWords(options);
  const allWords: string[] | null = args.output === undefined ? null : [];
  const rows: AttentionRow[] = [];
  const unknown: InputWord[] = [];
  let unknownCount = 0;
  let stoppedAt: InputWord | null = null;

  const stdout = new StdoutFlow(io, textInput === null);
  const print = (line: string): void => {
    if (!toStdout) stdout.write(`${line}\n`);
  };
  // With the whole text known, columns get a header, printed with the first row so that an input
  // error before any row leaves stdout empty.
  const headerWords = textInput === null ? [] : textInput.filter((t) => args.unknown !== 'skip' || table.has(t.word)).map((t) => t.word);
  let header = headerWords.length > 0 && headerWords.length <= maxColumns ? terminalHeader(headerWords, { labelWidth: LABEL_WIDTH, maxColumns }) : null;
  // A picture's size is known from the text before anything is computed; a stream's, row by row.
  const format = args.output === undefined ? null : args.format!;
  if (format !== null && format !== 'json') checkReportSize(format, headerWords.length, 0, args.heads);
  let attended = 0;
  const input$ =
    textInput === null
      ? stdinWords(io.stdin, warnUtf8).pipe(catchError((error: Error) => throwError(() => new CliError(EXIT.failure, `cannot read stdin: ${error.message}`))))
      : from(textInput);

  await lastValueFrom(
    input$.pipe(
      takeUntil(stdout.closed$),
      // An unknown word with --unknown error ends the input there, so the rows before it (those
      // waiting for look-ahead too) come out before the error is reported.
      takeWhile((token) => {
        if (table.has(token.word)) return true;
        if (args.unknown === 'error') stoppedAt = token;
        else if (unknown.push(token) > LISTED_UNKNOWN) unknown.pop();
        unknownCount++;
        return args.unknown !== 'error';
      }),
      filter((token) => args.unknown !== 'skip' || table.has(token.word)),
      map((token) => {
        recent.push(token.word);
        allWords?.push(token.word);
        return token.word;
      }),
      streamAttention(table, options),
      tap((row) => {
        recent.advance(row.index);
        if (allWords !== null) {
          rows.push(row);
          attended += row.positions.length;
          checkReportSize(format!, allWords.length, attended, args.heads);
        }
        if (stdout.isClosed) return;
        if (header !== null) print(header);
        header = null;
        const lines = terminalRows(row, recent, {
          color,
          labelWidth: LABEL_WIDTH,
          maxColumns,
          width,
          topCount: args.top,
          ...(textInput === null ? {} : { length: headerWords.length }),
        });
        for (const line of lines) print(line);
      }),
    ),
    { defaultValue: null },
  );

  // Rows can still be on their way when the input ends (a whole text argument is attended at
  // once): a reader that goes away before taking them must leave no heatmap file, as mid-stream.
  if (args.output !== undefined && !toStdout) await stdout.delivered();
  // A reader that went away (`| head`) ends the run as a closed pipe ends any command: quietly.
  if (stdout.failure !== null) {
    if (stdout.failure.code === 'EPIPE') return;
    throw new CliError(EXIT.failure, `cannot write to stdout: ${stdout.failure.message}`);
  }
  const stopped = stoppedAt as InputWord | null;
  if (stopped !== null) {
    throw new CliError(
      EXIT.input,
      `unknown word ${quotedText(stopped.word)} at ${wordPlace(stopped)}: the table has ${table.size.toLocaleString('en-US')} lower-cased English words (no single letters such as "a" or "i", no numbers). Use --unknown skip to leave such words out, or --unknown zero to give them a zero vector.`,
    );
  }
  if (recent.length === 0) {
    throw new CliError(EXIT.input, unknownCount > 0 ? `no words in the table: ${listWords(unknown, unknownCount)}` : 'no words in the input');
  }
  if (unknownCount > 0) {
    const what = args.unknown === 'skip' ? 'skipped' : 'gave a zero vector to';
    io.stderr.write(`attnstream: ${what} ${unknownCount} word${unknownCount === 1 ? '' : 's'} not in the table: ${listWords(unknown, unknownCount, true)}\n`);
  }
  if (allWords !== null) writeOutput(args, { words: allWords, rows }, options, io);
}

/** The engine's options for the flags; refusals name the flag, as the rest of the command line's do. */
function engineOptions(args: CliArguments, dim: number): AttentionOptions {
  if (dim % args.heads !== 0) throw usageError(`--heads ${args.heads}: the number of heads must divide ${dim}, the numbers per word in the table`);
  if (args.sinks !== undefined && args.sinks > 0 && args.window === undefined) {
    throw usageError(`--sinks ${args.sinks} needs --window: without a window every word stays attendable`);
  }
  const options: AttentionOptions = {
    dim,
    heads: args.heads,
    precision: args.precision,
    scale: args.scale ?? 1 / Math.sqrt(dim / args.heads),
    lookahead: args.lookahead,
    ...(args.window === undefined ? {} : { window: args.window }),
    ...(args.sinks === undefined ? {} : { sinks: args.sinks }),
  };
  // The checks above and the parser's leave the engine nothing to refuse today; should that change,
  // its refusal is still a usage error naming the flag.
  try {
    resolveOptions(options);
  } catch (error) {
    if (!(error instanceof AttentionError) || error.details.field === undefined) throw error;
    const field = error.details.field;
    throw usageError(`--${field}: ${error.message.replace(`option ${field} `, '')}`);
  }
  return options;
}

function listWords(words: readonly InputWord[], count: number, withPlaces = false): string {
  const listed = words.map((t) => (withPlaces ? `${quotedText(t.word)} (${wordPlace(t)})` : quotedText(t.word))).join(', ');
  return count > words.length ? `${listed}, …` : listed;
}

/** Says once that the input is not UTF-8: an endless Latin-1 stream would otherwise say it every line. */
function invalidUtf8Warning(io: CliIo): (line: number) => void {
  let warned = false;
  return (line) => {
    if (warned) return;
    warned = true;
    const where = line === 0 ? 'the text' : `line ${line}`;
    io.stderr.write(`attnstream: ${where} is not valid UTF-8; its invalid bytes are dropped, which can cut words short (further lines are not checked)\n`);
  };
}

/**
 * Stdout as the run writes it: stops the run when it fails (EPIPE when the reader closes),
 * reading stdin, pauses it while written text waits, so a slow reader does not make the command
 * buffer rows without bound, and tells when the written rows are through.
 */
class StdoutFlow {
  readonly closed$ = new Subject<void>();
  failure: NodeJS.ErrnoException | null = null;
  private waiting = false;
  private readonly drained$ = new Subject<void>();

  constructor(
    private readonly io: CliIo,
    private readonly readsStdin: boolean,
  ) {
    // Never removed: a pipe can fail after the last row, when runCli has already returned.
    io.stdout.on?.('error', (error) => {
      this.failure ??= error;
      this.closed$.next();
    });
  }

  get isClosed(): boolean {
    return this.failure !== null;
  }

  write(text: string): void {
    if (this.isClosed) return;
    const ready = this.io.stdout.write(text) !== false;
    if (ready || this.waiting || this.io.stdout.once === undefined) return;
    this.waiting = true;
    if (this.readsStdin) this.io.stdin.pause();
    this.io.stdout.once('drain', () => {
      this.waiting = false;
      if (this.readsStdin) this.io.stdin.resume();
      this.drained$.next();
    });
  }

  /**
   * Resolves once stdout has taken everything written (no write waits for 'drain') or has failed.
   * Node's write to a pipe whose reader has gone returns false and fails a moment later, so a
   * closed pipe is seen here even when every row was written before the failure came.
   */
  delivered(): Promise<void> {
    if (!this.waiting || this.isClosed) return Promise.resolve();
    return firstValueFrom(merge(this.drained$, this.closed$));
  }
}

/** Refuses an output path that cannot be written before any input is read: a live stream may never end. */
function checkWritable(path: string): void {
  try {
    if (existsSync(path)) {
      if (statSync(path).isDirectory()) throw new Error('it is a directory');
      accessSync(path, constants.W_OK);
    } else accessSync(dirname(resolve(path)), constants.W_OK);
  } catch (error) {
    throw new CliError(EXIT.failure, `cannot write ${path}: ${(error as Error).message}`);
  }
}

function writeOutput(args: CliArguments, heatmap: AttentionMap, options: AttentionOptions, io: CliIo): void {
  const title = heatmap.words.length <= 16 ? heatmap.words.join(' ') : `${heatmap.words.slice(0, 16).join(' ')} …`;
  const settings = describeOptions(options);
  let content: string;
  if (args.format === 'json') content = `${terminalJson(jsonReport(heatmap, { ...options, unknown: args.unknown }))}\n`;
  else if (args.format === 'svg') content = svgHeatmap(heatmap, { title, cellSize: heatmap.words.length > 40 ? 14 : 30 });
  else content = htmlReport(`attnstream: ${title}`, [{ title: settings, map: heatmap, topCount: args.top }]);
  if (args.output === '-') {
    io.stdout.write(content);
    return;
  }
  try {
    writeFileSync(args.output!, content);
  } catch (error) {
    throw new CliError(EXIT.failure, `cannot write ${args.output}: ${(error as Error).message}`);
  }
  // On stderr, with the other notes: stdout holds only rows, for whatever reads them.
  io.stderr.write(`attnstream: heatmap written to ${visibleText(args.output!)}\n`);
}

function describeOptions(o: AttentionOptions): string {
  const parts = [`seed mode, ${o.heads} head${o.heads === 1 ? '' : 's'}`, `scale ${Number(o.scale!.toPrecision(4))}`, o.precision!];
  if (o.window !== undefined) parts.push(`window ${o.window}`);
  if (o.sinks !== undefined) parts.push(`sinks ${o.sinks}`);
  if (o.lookahead! > 0) parts.push(`lookahead ${o.lookahead}`);
  return parts.join(', ');
}

function describe(error: unknown, env: Readonly<Record<string, string | undefined>>): [number, string] {
  // One line, nothing a terminal acts on: messages name paths, flags and words as the user gave them.
  if (error instanceof CliError) return [error.exitCode, visibleText(error.message)];
  if (error instanceof AttentionError) return [EXIT.failure, visibleText(`${error.code}: ${error.message}`)];
  if (env[DEBUG_VARIABLE] !== undefined && error instanceof Error && error.stack !== undefined) return [EXIT.failure, error.stack];
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return [EXIT.failure, `${visibleText(message.replace(/\s*\n\s*/g, ' '))} (${DEBUG_VARIABLE}=1 shows where)`];
}

function readVersion(): string {
  const url = new URL(PACKAGE_JSON, import.meta.url);
  try {
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch (error) {
    throw new CliError(EXIT.failure, `cannot read the version from ${fileURLToPath(url)}: ${(error as Error).message}`);
  }
}

// As for the data file: the same relative path from src/cli/ and dist/cli/, kept out of a literal
// `new URL(…)` so a bundler leaves the file where it is.
const PACKAGE_JSON = '../../package.json';

/**
 * The columns a row may take (the terminal's, 120 when stdout is not one) and the cells that leaves
 * after the label, a `…` and room for `self` and a few top words (17 at 120 columns); at least one.
 */
function rowLayout(stdout: CliIo['stdout']): { maxColumns: number; width: number } {
  const width = stdout.isTTY === true && stdout.columns !== undefined && stdout.columns > 0 ? stdout.columns : 120;
  return { width, maxColumns: Math.max(1, Math.floor((width - LABEL_WIDTH - 40) / 4)) };
}
