/** Words by stream position, as {@link topAttended} and {@link attentionRow} read them: a plain array does. */
export interface WordsByPosition {
  /** The word at `position`, or undefined when there is none (not yet seen, or forgotten). */
  at(position: number): string | undefined;
  /** How many positions the stream has had: one more than the last one. */
  readonly length: number;
}

/** Which positions a row can attend: the engine's `window` (W, default unbounded) and `sinks` (S). */
export interface AttendableReach {
  readonly window?: number | undefined;
  readonly sinks?: number | undefined;
}

/**
 * The words of an endless stream that rows can still attend. Row i attends positions above
 * i − W (and the first S, the sinks), so once row i is next to draw every word in [S, i − W] is
 * forgotten: with a window the words held stay at most S + W + the rows not yet drawn, however long
 * the stream runs (twice that at most while forgotten words wait to be cut off). Without a window
 * nothing is forgotten.
 *
 * @example
 * ```ts
 * const words = new RecentWords({ window: 2 });
 * for (const w of ['the', 'dog', 'ran', 'home']) words.push(w);
 * words.advance(3); // row 3 is next: it attends positions 2 and 3
 * words.at(1); // undefined
 * words.at(2); // 'ran'
 * words.retained; // 2
 * ```
 */
export class RecentWords implements WordsByPosition {
  private readonly window: number;
  private readonly sinkWords: string[] = [];
  private readonly sinkCount: number;
  /** The words from position `start` on; the first `dropped` of them are forgotten but not yet cut off. */
  private words: string[] = [];
  private start: number;
  private dropped = 0;
  private pushed = 0;

  constructor(reach: AttendableReach = {}) {
    this.window = reach.window ?? Infinity;
    this.sinkCount = reach.sinks ?? 0;
    this.start = this.sinkCount;
  }

  /** Positions seen so far: the next word's position. */
  get length(): number {
    return this.pushed;
  }

  /** How many words are held (sinks included, forgotten ones not yet cut off too): what the stream costs in memory. */
  get retained(): number {
    return this.sinkWords.length + this.words.length;
  }

  /** Appends the word at the next position. */
  push(word: string): void {
    if (this.pushed < this.sinkCount) this.sinkWords.push(word);
    else this.words.push(word);
    this.pushed++;
  }

  at(position: number): string | undefined {
    if (!Number.isInteger(position) || position < 0 || position >= this.pushed) return undefined;
    if (position < this.sinkCount) return this.sinkWords[position];
    const n = position - this.start;
    return n < this.dropped ? undefined : this.words[n];
  }

  /** Row `row` is the next to draw: forgets the words no row from it on can attend. */
  advance(row: number): void {
    const firstAttendable = row - this.window + 1;
    const forget = Math.min(firstAttendable - this.start, this.words.length);
    if (forget <= this.dropped) return;
    this.dropped = forget;
    // Cut the array once half of it is forgotten: amortised O(1) a word, at most twice the words kept.
    if (this.dropped * 2 >= this.words.length) {
      this.words = this.words.slice(this.dropped);
      this.start += this.dropped;
      this.dropped = 0;
    }
  }
}
