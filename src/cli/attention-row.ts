import { AttentionError } from '../index.js';
import type { AttentionStep } from '../index.js';
import type { WordsByPosition } from './recent-words.js';

/** One word's attention, ready to draw: the step's positions and per-head weights, plus the word. */
export interface AttentionRow {
  /** The word's 0-based position in the stream. */
  readonly index: number;
  readonly word: string;
  /** The positions the word attended, ascending (its own among them; later ones only with look-ahead). */
  readonly positions: Int32Array;
  /** One array per query head, aligned with `positions`; each sums to 1. */
  readonly weights: readonly (Float32Array | Float64Array)[];
}

/** The rows of a whole text, in stream order, and its words (row i is word i). */
export interface AttentionMap {
  readonly words: readonly string[];
  readonly rows: readonly AttentionRow[];
}

/**
 * Pairs an {@link AttentionStep} with its word. The step must come from an engine created with
 * `withWeights: true`; `words.at(step.index)` names the row (`words` is an array, or a long
 * stream's RecentWords).
 *
 * @throws AttentionError INVALID_ARGUMENT when the step has no weights or `words` has no word at
 *   `step.index`.
 * @example
 * ```ts
 * const [step] = createAttention({ dim: 2, withWeights: true }).push([1, 0]);
 * attentionRow(step!, ['hello']); // { index: 0, word: 'hello', positions: [0], weights: [[1]] }
 * ```
 */
export function attentionRow(step: AttentionStep, words: WordsByPosition): AttentionRow {
  if (step.positions === undefined || step.weights === undefined) {
    throw new AttentionError('INVALID_ARGUMENT', `attentionRow: step ${step.index} has no weights; create the engine with withWeights: true`, {
      field: 'step',
      token: step.index,
    });
  }
  const word = words.at(step.index);
  if (word === undefined) {
    throw new AttentionError('INVALID_ARGUMENT', `attentionRow: step ${step.index} has no word (${words.length} words given, or it was forgotten)`, {
      field: 'words',
      token: step.index,
      expected: `more than ${step.index}`,
      actual: words.length,
    });
  }
  return { index: step.index, word, positions: step.positions, weights: step.weights };
}
