/**
 * attention.wat's text with its projection kernels' bfloat16 twins added: the functions between
 * `[bf16 twin begin]` and `[bf16 twin end]` (`project` and `$project_token`) copied as
 * `project_bf16` and `$project_token_bf16`, reading a matrix of bfloat16 weights instead of
 * float32: each weight load of four columns becomes a zero-extending load of four 16-bit halves
 * shifted into the top of each lane (exactly the float32 they stand for), the weight pointers step
 * 8 bytes a chunk instead of 16, a row is `2·cols` bytes, and a row's last partial chunk is read by
 * `$tail4_bf16`. The loops, and so every output's order of operations, are the f32 kernel's: a
 * bfloat16 matrix projects to the same bits as its float32 widening. Written once, so the two
 * cannot drift; each rewrite must match where expected, or the build fails.
 */
export function withBfloat16Twin(text: string): string {
  const begin = text.indexOf(';; [bf16 twin begin]');
  const end = text.indexOf(';; [bf16 twin end]');
  if (begin < 0 || end < begin) throw new Error('bfloat16 twin: attention.wat must mark its projection kernels with [bf16 twin begin] and [bf16 twin end]');
  const functions = text.slice(text.indexOf('\n', begin) + 1, end);
  const rewrites: [RegExp, string, number][] = [
    [/\(export "project"\)/g, '(export "project_bf16")', 1],
    [/\$project_token\b/g, '$project_token_bf16', 2],
    [/\(local\.set \$wstride \(i32\.shl \(local\.get \$cols\) \(i32\.const 2\)\)\)/g, '(local.set $wstride (i32.shl (local.get $cols) (i32.const 1)))', 2],
    [/\(v128\.load align=4 \(local\.get (\$w\d)\)\)/g, '(i32x4.shl (v128.load16x4_u align=2 (local.get $1)) (i32.const 16))', 6],
    [/\(call \$tail4 \(local\.get (\$w\d)\)/g, '(call $tail4_bf16 (local.get $1)', 6],
    [/\(i32\.add \(local\.get (\$w\d)\) \(i32\.const 16\)\)/g, '(i32.add (local.get $1) (i32.const 8))', 6],
  ];
  let twin = functions;
  for (const [pattern, replacement, count] of rewrites) {
    const found = twin.match(pattern)?.length ?? 0;
    if (found !== count) throw new Error(`bfloat16 twin: expected ${count} matches of ${pattern}, found ${found}`);
    twin = twin.replace(pattern, replacement);
  }
  // Any other read through a weight pointer would still read float32s.
  const missed = /v128\.load[^\n]*\(local\.get \$w\d\)/.exec(twin.replace(/v128\.load16x4_u align=2 \(local\.get \$w\d\)/g, ''));
  if (missed !== null) throw new Error(`bfloat16 twin: a weight read left as float32: ${missed[0]}`);
  return `${text.slice(0, end)}${twin}${text.slice(end)}`;
}
