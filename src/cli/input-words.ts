import { createInterface } from 'node:readline';
import { Observable, mergeMap } from 'rxjs';
import { tokenize } from '../rx/index.js';

/** A word of the command's input and where it was, for messages. */
export interface InputWord {
  readonly word: string;
  /** 1-based line of stdin, or 0 for a text argument. */
  readonly line: number;
  /** 1-based word number within the line (or the text). */
  readonly column: number;
}

/** Where an {@link InputWord} was, as messages say it: `word 4` or `line 2, word 3`. */
export function wordPlace(word: InputWord): string {
  return word.line === 0 ? `word ${word.column}` : `line ${word.line}, word ${word.column}`;
}

/** The words of a text argument (bytes that were not UTF-8 dropped, as on stdin). */
export function textWords(text: string): InputWord[] {
  return validWords(text).map((word, n) => ({ word, line: 0, column: n + 1 }));
}

/**
 * Stdin as words, line by line, as the lines arrive. Lines are read as UTF-8; a line with bytes
 * that are not (decoded as U+FFFD, dropped wherever they stand in a word) is passed to
 * `onInvalidUtf8` before its words. A read error (stdin is a directory, say) errors the stream
 * with the error Node gives; unsubscribing stops reading.
 *
 * @example
 * ```ts
 * stdinWords(process.stdin, (line) => console.error(`line ${line} is not UTF-8`)).subscribe((w) => console.log(w.word, wordPlace(w)));
 * ```
 */
export function stdinWords(stdin: NodeJS.ReadableStream, onInvalidUtf8: (line: number) => void): Observable<InputWord> {
  const lines$ = new Observable<string>((subscriber) => {
    const lines = createInterface({ input: stdin, crlfDelay: Infinity });
    // readline passes the input's errors on as its own; 'close' follows only a clean end.
    lines.on('error', (error) => subscriber.error(error));
    lines.on('line', (line) => subscriber.next(line));
    lines.on('close', () => subscriber.complete());
    return () => lines.close();
  });
  return lines$.pipe(
    mergeMap((line, n) => {
      if (line.includes('\uFFFD')) onInvalidUtf8(n + 1);
      return validWords(line).map((word, k): InputWord => ({ word, line: n + 1, column: k + 1 }));
    }),
  );
}

// Node decodes bytes that are not UTF-8 as U+FFFD, a symbol the splitter strips only from a word's
// ends (`caf\uFFFDs` would stay whole): it goes before splitting, wherever it stands.
function validWords(text: string): string[] {
  return tokenize(text.replace(/\uFFFD/g, ''));
}
