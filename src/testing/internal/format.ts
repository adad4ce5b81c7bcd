import type { AttentionOptions, Vector } from '../../attention/index.js';

/**
 * A number short enough to read: 7 significant digits. Two numbers that differ below that read the
 * same; {@link formatVectors} shows those exactly.
 */
export function formatNumber(value: number): string {
  return Number.isInteger(value) || !Number.isFinite(value) ? String(value) : String(Number(value.toPrecision(7)));
}

/** An error or a tolerance: `3.1e-7`. */
export function formatError(value: number): string {
  return value.toExponential(1);
}

/** `[0.3, -1, 7e-8]`, each number exact (`String`): inputs and weights a reader may type back in. */
export function formatVector(values: Vector): string {
  return `[${Array.from(values, String).join(', ')}]`;
}

/**
 * `expected` and `actual` at 7 digits ({@link formatNumber}), except that an element whose two
 * numbers differ but read the same at 7 digits is shown exactly (`String`, the shortest text that
 * reads back as the same number) on both lines: `[0.1]` against `[0.10000000149011612]`, not
 * `[0.1]` against `[0.1]`.
 */
export function formatVectors(expected: Vector, actual: Vector): [string, string] {
  const exact = (n: number): boolean =>
    n < expected.length && n < actual.length && !Object.is(expected[n], actual[n]) && formatNumber(expected[n]!) === formatNumber(actual[n]!);
  const show = (values: Vector): string => `[${Array.from(values, (v, n) => (exact(n) ? String(v) : formatNumber(v))).join(', ')}]`;
  return [show(expected), show(actual)];
}

/**
 * The options on one line, weights left out, as a person would write them; then each weight
 * matrix on its own line, row by row: `wq (4×2) = [[0.3, -1], …]`, and each bias: `bq (4) = [0.5, …]`.
 */
export function formatOptions(options: AttentionOptions): string[] {
  const { weights, ...rest } = options;
  const shown = (value: unknown): string =>
    typeof value === 'string' ? `'${value}'` : Array.isArray(value) || ArrayBuffer.isView(value) ? formatVector(value as Vector) : String(value);
  const fields = Object.entries(rest).map(([key, value]) => `${key}: ${shown(value)}`);
  const lines = [`options: { ${fields.join(', ')}${weights === undefined ? '' : ', weights'} }`];
  if (weights === undefined) return lines;
  for (const [name, matrix] of Object.entries(weights) as [string, Vector | undefined][]) {
    if (matrix === undefined) continue;
    if (name.startsWith('b')) {
      lines.push(`  ${name} (${matrix.length}) = ${formatVector(matrix)}`);
      continue;
    }
    // wq, wk, wv have dim columns; wo has dim rows.
    const rows = name === 'wo' ? options.dim : matrix.length / options.dim;
    const cols = matrix.length / rows;
    const rowTexts = Array.from({ length: rows }, (_, r) => formatVector(Array.from(matrix).slice(r * cols, (r + 1) * cols)));
    lines.push(`  ${name} (${rows}×${cols}) = [${rowTexts.join(', ')}]`);
  }
  return lines;
}
