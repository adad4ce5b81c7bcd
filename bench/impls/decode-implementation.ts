/** The shape of one grid cell: H query heads (= kv heads) of D channels, cache length n. */
export interface Cell {
  readonly heads: number;
  readonly headDim: number;
  readonly n: number;
}

/** What `steps` reports: µs of each decode step and the output of the last one (H·D numbers, `[h][d]`). */
export interface StepTimes {
  readonly times: readonly number[];
  readonly output: ArrayLike<number>;
}

/** What `stream` reports: seconds for the whole stream and the last token's output. */
export interface StreamTime {
  readonly seconds: number;
  readonly output: ArrayLike<number>;
}

/**
 * One attention implementation as the benchmark drives it. A decode step at length n appends token
 * n's key and value to a cache holding tokens 0 … n−1, attends token n's query over the n+1 keys,
 * and rolls the cache back to n outside the clock, so every step of a cell sees the same length.
 * Inputs come from bench/data.ts, so every implementation computes the same numbers.
 */
export interface DecodeImplementation {
  /** Short id, used by --peers and in the tables. */
  readonly id: string;
  /** What it is, for the tables: library, backend, threads. */
  readonly label: string;
  /** Builds a cache of tokens 0 … n−1. */
  setup(cell: Cell): Promise<void>;
  /** Times `count` decode steps at the length set up. */
  steps(count: number): Promise<StepTimes>;
  /** Releases the cell's cache. */
  teardown(): Promise<void>;
  /** Streams tokens 0 … tokens−1 from an empty cache, each appended then attended. */
  stream(heads: number, headDim: number, tokens: number): Promise<StreamTime>;
  /** Releases everything (child processes, sessions). */
  close(): Promise<void>;
}

/**
 * The cell's keys and values of tokens 0 … n, token-major (`[t][h][d]`), made once per cell and
 * shared by the in-process implementations; those that keep a token-major cache use it as theirs.
 */
export type CellData = (cell: Cell) => { keys: Float32Array; values: Float32Array };
