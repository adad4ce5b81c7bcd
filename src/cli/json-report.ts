import type { AttentionMap } from './attention-row.js';

/** The JSON file the CLI writes: the words, the options used, and every row's attention. */
export interface JsonReport {
  readonly words: readonly string[];
  readonly options: Readonly<Record<string, unknown>>;
  readonly rows: readonly {
    readonly index: number;
    readonly word: string;
    readonly positions: readonly number[];
    /** One array per head, aligned with positions. */
    readonly weights: readonly (readonly number[])[];
  }[];
}

/**
 * The attention of a text as plain JSON-ready data (typed arrays become number arrays).
 *
 * @example
 * ```ts
 * writeFileSync('attention.json', JSON.stringify(jsonReport(map, { window: 4 }), null, 2));
 * ```
 */
export function jsonReport(map: AttentionMap, options: Readonly<Record<string, unknown>>): JsonReport {
  return {
    words: [...map.words],
    options,
    rows: map.rows.map((row) => ({
      index: row.index,
      word: row.word,
      positions: Array.from(row.positions),
      weights: row.weights.map((w) => Array.from(w)),
    })),
  };
}
