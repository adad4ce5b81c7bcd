import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { from, lastValueFrom, mergeMap, Observable, tap, filter, map } from 'rxjs';
import { AttentionError, resolveOptions } from '../index.js';
import type { AttentionOptions } from '../index.js';
import { tokenize } from '../rx/index.js';
import type { AttentionMap, AttentionRow } from './attention-row.js';
import { CliError, EXIT } from './cli-error.js';
import { htmlReport } from './html-report.js';
import { jsonReport } from './json-report.js';
import { loadEmbeddingTable } from './load-embedding-table.js';
import { parseArguments } from './parse-arguments.js';
import type { CliArguments } from './parse-arguments.js';
import { streamAttention } from './stream-attention.js';
import { svgHeatmap } from './svg-heatmap.js';
import { terminalHeader, terminalRows } from './terminal-heatmap.js';
import { USAGE } from './usage.js';

/** The streams the command reads and writes; tests pass their own. */
export interface CliIo {
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  readonly stdout: { write(text: string): unknown; readonly isTTY?: boolean; readonly columns?: number };
  readonly stderr: { write(text: string): unknown };
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** A word of the input and where it was, for error messages. */
interface Token {
  readonly word: string;
  /** 1-based line of stdin, or 0 for a text argument. */
  readonly line: number;
  /** 1-based word number within the line (or the text). */
  readonly column: number;
}

const LABEL_WIDTH = 12;

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
      throw new CliError(EXIT.usage, 'no text: pass it as arguments, pipe it into stdin, or give "-" to type lines (see attnstream --help)');
    }
    await attendInput(args, io);
    return EXIT.ok;
  } catch (error) {
    const [code, message] = describe(error);
    io.stderr.write(`attnstream: ${message}\n`);
    return code;
  }
}

async function attendInput(args: CliArguments, io: CliIo): Promise<void> {
  const table = loadEmbeddingTable(args.unknown === 'zero');
  const options: AttentionOptions = {
    dim: table.dim,
    heads: args.heads,
    precision: args.precision,
    scale: args.scale ?? 1 / Math.sqrt(table.dim / args.heads),
    lookahead: args.lookahead,
    ...(args.window === undefined ? {} : { window: args.window }),
    ...(args.sinks === undefined ? {} : { sinks: args.sinks }),
  };
  try {
    resolveOptions(options);
  } catch (error) {
    if (error instanceof AttentionError) throw new CliError(EXIT.usage, `${error.message} (see attnstream --help)`);
    throw error;
  }

  const toStdout = args.output === '-';
  const env = io.env ?? {};
  const color = args.color === 'auto' ? io.stdout.isTTY === true && env.NO_COLOR === undefined : args.color;
  const maxColumns = Math.max(8, Math.floor(((io.stdout.columns ?? 120) - LABEL_WIDTH - 40) / 4));
  const textTokens = args.text === null ? null : tokenize(args.text).map((word, n): Token => ({ word, line: 0, column: n + 1 }));
  const tokens$ = textTokens === null ? stdinTokens(io.stdin) : from(textTokens);

  const seen: Token[] = [];
  const unknown: Token[] = [];
  const rows: AttentionRow[] = [];
  const kept: string[] = [];
  const print = (line: string): void => {
    if (!toStdout) io.stdout.write(`${line}\n`);
  };
  // With the whole text known, columns get a header, printed with the first row so that an input
  // error before any row leaves stdout empty.
  const headerWords = textTokens === null ? [] : textTokens.filter((t) => args.unknown !== 'skip' || table.has(t.word)).map((t) => t.word);
  let header = headerWords.length > 0 && headerWords.length <= maxColumns ? terminalHeader(headerWords, { labelWidth: LABEL_WIDTH, maxColumns }) : null;

  try {
    await lastValueFrom(
      tokens$.pipe(
        filter((token) => {
          if (table.has(token.word)) return true;
          unknown.push(token);
          return args.unknown !== 'skip';
        }),
        tap((token) => seen.push(token)),
        map((token) => {
          kept.push(token.word);
          return token.word;
        }),
        streamAttention(table, options),
        tap((row) => {
          if (args.output !== undefined) rows.push(row);
          if (header !== null) print(header);
          header = null;
          const lines = terminalRows(row, kept, {
            color,
            labelWidth: LABEL_WIDTH,
            maxColumns,
            topCount: args.top,
            ...(textTokens === null ? {} : { length: headerWords.length }),
          });
          for (const line of lines) print(line);
        }),
      ),
      { defaultValue: null },
    );
  } catch (error) {
    if (error instanceof AttentionError && error.code === 'UNKNOWN_TOKEN' && error.details.token !== undefined) {
      const token = seen[error.details.token]!;
      throw new CliError(
        EXIT.input,
        `unknown word ${JSON.stringify(token.word)} at ${where(token)}: the table has ${table.size.toLocaleString('en-US')} lower-cased English words (no single letters such as "a" or "i", no numbers). Use --unknown skip to leave such words out, or --unknown zero to give them a zero vector.`,
      );
    }
    throw error;
  }

  if (kept.length === 0) throw new CliError(EXIT.input, unknown.length > 0 ? `no words in the table: ${unknown.map((t) => JSON.stringify(t.word)).join(', ')}` : 'no words in the input');
  if (unknown.length > 0) {
    const list = unknown.slice(0, 10).map((t) => `${JSON.stringify(t.word)} (${where(t)})`).join(', ');
    const what = args.unknown === 'skip' ? 'skipped' : 'gave a zero vector to';
    io.stderr.write(`attnstream: ${what} ${unknown.length} word${unknown.length === 1 ? '' : 's'} not in the table: ${list}${unknown.length > 10 ? ', …' : ''}\n`);
  }
  if (args.output !== undefined) writeOutput(args, { words: kept, rows }, options, io);
}

function writeOutput(args: CliArguments, heatmap: AttentionMap, options: AttentionOptions, io: CliIo): void {
  const title = heatmap.words.length <= 16 ? heatmap.words.join(' ') : `${heatmap.words.slice(0, 16).join(' ')} …`;
  const settings = describeOptions(options);
  let content: string;
  if (args.format === 'json') content = `${JSON.stringify(jsonReport(heatmap, { ...options, unknown: args.unknown }), null, 2)}\n`;
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
  io.stdout.write(`heatmap: ${args.output}\n`);
}

function describeOptions(o: AttentionOptions): string {
  const parts = [`seed mode, ${o.heads} head${o.heads === 1 ? '' : 's'}`, `scale ${Number(o.scale!.toPrecision(4))}`, o.precision!];
  if (o.window !== undefined) parts.push(`window ${o.window}`);
  if (o.sinks !== undefined) parts.push(`sinks ${o.sinks}`);
  if (o.lookahead! > 0) parts.push(`lookahead ${o.lookahead}`);
  return parts.join(', ');
}

/** Stdin as words, line by line, as the lines arrive. */
function stdinTokens(stdin: NodeJS.ReadableStream): Observable<Token> {
  const lines$ = new Observable<string>((subscriber) => {
    const lines = createInterface({ input: stdin, crlfDelay: Infinity });
    lines.on('line', (line) => subscriber.next(line));
    lines.on('close', () => subscriber.complete());
    stdin.on('error', (error) => subscriber.error(error));
    return () => lines.close();
  });
  return lines$.pipe(mergeMap((line, n) => tokenize(line).map((word, k): Token => ({ word, line: n + 1, column: k + 1 }))));
}

function where(token: Token): string {
  return token.line === 0 ? `word ${token.column}` : `line ${token.line}, word ${token.column}`;
}

function describe(error: unknown): [number, string] {
  if (error instanceof CliError) return [error.exitCode, error.message];
  if (error instanceof AttentionError) return [EXIT.failure, `${error.code}: ${error.message}`];
  return [EXIT.failure, error instanceof Error ? (error.stack ?? error.message) : String(error)];
}

function readVersion(): string {
  const text = readFileSync(new URL(PACKAGE_JSON, import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

// As for the data file: the same relative path from src/cli/ and dist/cli/, kept out of a literal
// `new URL(…)` so a bundler leaves the file where it is.
const PACKAGE_JSON = '../../package.json';
