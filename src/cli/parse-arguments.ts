import { usageError as usage } from './cli-error.js';
import { quotedText } from './terminal-text.js';

/** What to do with a word the embedding table lacks. */
export type UnknownWords = 'error' | 'skip' | 'zero';
/** The file formats `--output` writes. */
export type OutputFormat = 'html' | 'svg' | 'json';

/** The command line, checked. */
export interface CliArguments {
  /** The text to attend, or null to read stdin line by line. */
  readonly text: string | null;
  readonly window?: number;
  readonly sinks?: number;
  readonly heads: number;
  readonly lookahead: number;
  readonly precision: 'float32' | 'float64';
  readonly scale?: number;
  readonly top: number;
  readonly unknown: UnknownWords;
  /** A file path, "-" for stdout, or absent. */
  readonly output?: string;
  readonly format?: OutputFormat;
  /** 'auto': as autoColor in run-cli.ts decides (a terminal, TERM, NO_COLOR, FORCE_COLOR). */
  readonly color: boolean | 'auto';
  readonly help: boolean;
  readonly version: boolean;
}

type ValueFlag = 'window' | 'sinks' | 'heads' | 'lookahead' | 'precision' | 'scale' | 'top' | 'unknown' | 'output' | 'format';

const VALUE_FLAGS: Readonly<Record<string, ValueFlag>> = {
  '--window': 'window',
  '--sinks': 'sinks',
  '--heads': 'heads',
  '--lookahead': 'lookahead',
  '--precision': 'precision',
  '--scale': 'scale',
  '--top': 'top',
  '--unknown': 'unknown',
  '--output': 'output',
  '-o': 'output',
  '--format': 'format',
};

/** Flags that are on or off: `--color=yes` is refused rather than read as an unknown flag. */
const SWITCHES = new Set(['-', '-h', '--help', '--version', '--color', '--no-color']);

/**
 * Parses the arguments after `attnstream`: flags (`--window 4` or `--window=4`) anywhere, the rest
 * joined with spaces into the text. No text, or `-`, means stdin.
 *
 * @throws CliError with exit code 2 naming the flag and what was wrong.
 */
export function parseArguments(argv: readonly string[]): CliArguments {
  const values = new Map<ValueFlag, string>();
  const words: string[] = [];
  let color: boolean | 'auto' = 'auto';
  let help = false;
  let version = false;
  let stdin = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      words.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-') stdin = true;
    else if (arg === '-h' || arg === '--help') help = true;
    else if (arg === '--version') version = true;
    else if (arg === '--color') color = true;
    else if (arg === '--no-color') color = false;
    else if (arg.startsWith('-') && !/^-\d/.test(arg)) {
      const eq = arg.indexOf('=');
      const name = eq > 0 ? arg.slice(0, eq) : arg;
      if (SWITCHES.has(name)) throw usage(`${name} takes no value, got ${quotedText(arg)}`);
      const flag = VALUE_FLAGS[name];
      if (flag === undefined) throw usage(`unknown flag ${name}`);
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw usage(`${name} needs a value`);
      values.set(flag, value);
    } else words.push(arg);
  }
  if (stdin && words.length > 0) throw usage('give the text as arguments or "-" for stdin, not both');
  const format = values.get('format');
  if (format !== undefined && format !== 'html' && format !== 'svg' && format !== 'json') throw usage(`--format must be html, svg or json, got ${quotedText(format)}`);
  const output = values.get('output');
  if (output === '') throw usage('--output needs a file name (or - for stdout)');
  if (format !== undefined && output === undefined) throw usage(`--format ${format} needs --output FILE (or -o - for stdout)`);
  if (output === '-' && format === undefined) throw usage('-o - writes the heatmap to stdout: add --format html, svg or json');
  const named = output === undefined || output === '-' ? undefined : formatOf(output);
  if (output !== undefined && output !== '-' && format === undefined && named === undefined) {
    throw usage(`--output ${output}: cannot tell the format from the name; end it in .html, .svg or .json, or add --format`);
  }
  if (format !== undefined && named !== undefined && format !== named) {
    throw usage(`--format ${format} disagrees with --output ${output} (a .${named} name); drop one or rename the file`);
  }
  const precision = values.get('precision') ?? 'float32';
  if (precision !== 'float32' && precision !== 'float64') throw usage(`--precision must be float32 or float64, got ${quotedText(precision)}`);
  const unknown = values.get('unknown') ?? 'error';
  if (unknown !== 'error' && unknown !== 'skip' && unknown !== 'zero') throw usage(`--unknown must be error, skip or zero, got ${quotedText(unknown)}`);
  return {
    text: stdin || words.length === 0 ? null : words.join(' '),
    ...optional('window', integer(values, 'window', 1)),
    ...optional('sinks', integer(values, 'sinks', 0)),
    heads: integer(values, 'heads', 1) ?? 1,
    lookahead: integer(values, 'lookahead', 0) ?? 0,
    precision,
    ...optional('scale', positiveNumber(values, 'scale')),
    top: integer(values, 'top', 0) ?? 3,
    unknown,
    ...optional('output', output),
    ...optional('format', format ?? named),
    color,
    help,
    version,
  };
}

/** The format a file name's extension says, if any. */
function formatOf(path: string): OutputFormat | undefined {
  const match = /\.(html?|svg|json)$/i.exec(path);
  if (match === null) return undefined;
  const extension = match[1]!.toLowerCase();
  return extension === 'htm' || extension === 'html' ? 'html' : (extension as OutputFormat);
}

function integer(values: ReadonlyMap<ValueFlag, string>, flag: ValueFlag, min: number): number | undefined {
  const raw = values.get(flag);
  if (raw === undefined) return undefined;
  // Digits only: Number() would also take "0x2", "1e20" and " 4".
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min) throw usage(`--${flag} must be an integer ≥ ${min}, got ${quotedText(raw)}`);
  if (!Number.isSafeInteger(n)) throw usage(`--${flag} ${raw} is too large (at most ${Number.MAX_SAFE_INTEGER})`);
  return n;
}

function positiveNumber(values: ReadonlyMap<ValueFlag, string>, flag: ValueFlag): number | undefined {
  const raw = values.get(flag);
  if (raw === undefined) return undefined;
  // Decimal notation only, as for the integers: no hex, no surrounding spaces.
  const n = Number(raw);
  if (!/^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) || !Number.isFinite(n) || n <= 0) throw usage(`--${flag} must be a positive number, got ${quotedText(raw)}`);
  return n;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
