/** The exit codes of the `attnstream` command; docs/cli.md lists them for users. */
export const EXIT = {
  /** Everything worked. */
  ok: 0,
  /** Something failed that is not the user's input: the output file could not be written, a bug. */
  failure: 1,
  /** A bad command line: an unknown flag, a bad value, options the engine refuses. */
  usage: 2,
  /** The input cannot be attended: a word the table lacks (with `--unknown error`), or no words at all. */
  input: 3,
} as const;

/** A refusal the command reports as one line on stderr, exiting with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(exitCode: number, message: string) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** A usage refusal (exit 2), its message pointing at `--help`. */
export function usageError(message: string): CliError {
  return new CliError(EXIT.usage, `${message} (see attnstream --help)`);
}
