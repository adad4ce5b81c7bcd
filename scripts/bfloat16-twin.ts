/**
 * attention.wat's text with its projection kernels' bfloat16 twins added: the functions between
 * `[bf16 twin begin]` and `[bf16 twin end]` (`project` and `$project_token`) copied as
 * `project_bf16` and `$project_token_bf16`, reading a matrix of bfloat16 weights instead of
 * float32: each weight load of four columns becomes a load of four 16-bit halves put in the top
 * of each lane (exactly the float32 they stand for), the weight pointers step half as far, a row
 * is `2·cols` bytes, and a row's last partial chunk is read by `$tail4_bf16`. The loops, and so
 * every output's order of operations, are the float32 kernel's: a bfloat16 matrix projects to the
 * same bits as its float32 widening. Written once, so the two cannot drift; each rewrite must
 * match as often as expected, or the build fails.
 *
 * The two functions widen differently, each the faster for its loop (measured on the machine of
 * docs/performance.md, both builds in one process). A single token's loop is bound by the
 * instructions on the vector shuffle ports: an 8-byte load and an interleave with zeros
 * (`i8x16.shuffle` as punpcklwd) puts each half in place in one of them, ~1.17-1.25x the
 * multiply-adds a second of a zero-extending load and a shift, which take two. In the prompt
 * loop, with eight sums live, the interleave ran at half the speed of the extend and shift.
 */
export function withBfloat16Twin(text: string): string {
  const begin = text.indexOf(';; [bf16 twin begin]');
  const end = text.indexOf(';; [bf16 twin end]');
  if (begin < 0 || end < begin) throw new Error('bfloat16 twin: attention.wat must mark its projection kernels with [bf16 twin begin] and [bf16 twin end]');
  const functions = text.slice(text.indexOf('\n', begin) + 1, end);
  const split = functions.indexOf('(func $project_token ');
  if (split < 0) throw new Error('bfloat16 twin: $project_token must follow project between the marks');
  const extend = (offset: string) => `(i32x4.shl (v128.load16x4_u${offset} align=2 (local.get $1)) (i32.const 16))`;
  const interleave = (offset: string) => `(i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (v128.const i64x2 0 0) (v128.load64_zero${offset} align=2 (local.get $1)))`;
  const prompt = rewritten(functions.slice(0, split), [
    [/\(export "project"\)/g, '(export "project_bf16")', 1],
    [/\(v128\.load align=4 \(local\.get (\$w\d)\)\)/g, extend(''), 2],
    [/\(i32\.add \(local\.get (\$w\d)\) \(i32\.const 16\)\)/g, '(i32.add (local.get $1) (i32.const 8))', 2],
    [/\(call \$tail4 \(local\.get (\$w\d)\)/g, '(call $tail4_bf16 (local.get $1)', 2],
  ]);
  const token = rewritten(functions.slice(split), [
    [/\(v128\.load align=4 \(local\.get (\$w\d)\)\)/g, interleave(''), 8],
    [/\(v128\.load offset=16 align=4 \(local\.get (\$w\d)\)\)/g, interleave(' offset=8'), 4],
    [/\(i32\.add \(local\.get (\$w\d)\) \(i32\.const 16\)\)/g, '(i32.add (local.get $1) (i32.const 8))', 4],
    [/\(i32\.add \(local\.get (\$w\d)\) \(i32\.const 32\)\)/g, '(i32.add (local.get $1) (i32.const 16))', 4],
    [/\(call \$tail4 \(local\.get (\$w\d)\)/g, '(call $tail4_bf16 (local.get $1)', 4],
  ]);
  return `${text.slice(0, end)}${prompt}${token}${text.slice(end)}`;
}

/** `part` with the rewrites both functions share and its own, each matching `count` times. */
function rewritten(part: string, own: readonly [RegExp, string, number][]): string {
  const shared: [RegExp, string, number][] = [
    [/\$project_token\b/g, '$project_token_bf16', 1],
    [/\(local\.set \$wstride \(i32\.shl \(local\.get \$cols\) \(i32\.const 2\)\)\)/g, '(local.set $wstride (i32.shl (local.get $cols) (i32.const 1)))', 1],
  ];
  let twin = part;
  for (const [pattern, replacement, count] of [...shared, ...own]) {
    const found = twin.match(pattern)?.length ?? 0;
    if (found !== count) throw new Error(`bfloat16 twin: expected ${count} matches of ${pattern}, found ${found}`);
    twin = twin.replace(pattern, replacement);
  }
  // Any other read through a weight pointer would still read float32s.
  const missed = /v128\.load(?!16x4_u|64_zero)[^\n]*\(local\.get \$w\d\)/.exec(twin);
  if (missed !== null) throw new Error(`bfloat16 twin: a weight read left as float32: ${missed[0]}`);
  return twin;
}
