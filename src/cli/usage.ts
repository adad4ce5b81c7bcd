/** The `attnstream --help` text. */
export const USAGE = `attnstream: stream words through attention and see which earlier words each one attends

Usage
  attnstream [flags] "some text"        attend over the words of the text
  attnstream [flags] < file.txt         stream stdin line by line (also: attnstream -)
  some-command | attnstream [flags]     rows are printed as each word arrives

Each word is looked up in the shipped GloVe table (20,000 lower-cased English words,
100 dims) and attended in seed mode: score = x_i · x_j · scale, softmax over the words so
far. For every word it prints a heatmap row (cell j = word j, shade ∝ √weight), the
weight on itself, and the words it attends most.

Flags
  --window N          attend only the last N words (N counts the word itself); memory
                      stays bounded on an endless stdin
  --sinks N           with --window: the first N words stay attendable (attention sinks)
  --heads N           split the 100 numbers into N heads (N divides 100); one row per head
  --lookahead N       each word also attends the next N words; its row waits for them
  --precision P       float32 (default) or float64
  --scale X           score scale (default 1/√(100/heads))
  --top K             how many attended words to list per row (default 3)
  --unknown MODE      a word not in the table: error (default, exit 3), skip it, or zero
                      (a zero vector: it scores 0 against every word)
  -o, --output FILE   also write the heatmap: FILE.html (a page with the SVG, a panel per
                      head, and a table), FILE.svg or FILE.json; "-" writes it to stdout
                      instead of rows (the file needs the whole run in memory)
  --format F          html, svg or json: needed with "-o -" or when FILE's extension does not say
  --color, --no-color coloured cells with weights (default: when stdout is a terminal, TERM
                      is not dumb and NO_COLOR is unset or empty; FORCE_COLOR=1 forces it)
  -h, --help          this text
  --version           the version

Examples
  attnstream "The dog ran around the park because it was excited"
  attnstream --window 4 --sinks 1 "The dog ran around the park because it was open"
  attnstream --heads 4 -o it.html "The dog ran around the park because it was excited"
  attnstream --unknown skip "I saw a dog"          ("i" and "a" are not in the table)
  tail -f notes.txt | attnstream --window 64 --top 5
  attnstream -o - --format json "the cat sat" | jq '.rows[2].weights[0]'

Exit codes
  0  done
  1  failure: the output file could not be written, stdin could not be read, stdout
     failed, the engine refused a step (its error code on the line), an unexpected
     error (ATTNSTREAM_DEBUG=1 shows its stack)
  2  usage: unknown flag, bad value, options that do not go together
  3  input: a word not in the table (with --unknown error), or no words at all
`;
