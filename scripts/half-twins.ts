/**
 * attention.wat's text with its projection kernels' twins over 16-bit weights added: the
 * functions between `[half twins begin]` and `[half twins end]` (`project` and `$project_token`)
 * copied once per {@link HALVES} entry, as `project_bf16` and `$project_token_bf16` (bfloat16) and
 * `project_f16` and `$project_token_f16` (IEEE binary16), reading a matrix of those instead of
 * float32: each weight load of four columns becomes a load of four 16-bit numbers widened to the
 * float32s they stand for, exactly; the weight pointers step half as far, a row is `2·cols` bytes,
 * and a row's last partial chunk is read by `$tail4_bf16` or `$tail4_f16`. The loops, and so every
 * output's order of operations, are the float32 kernel's: a 16-bit matrix projects to the same bits
 * as its float32 widening. Written once, so the twins cannot drift; each rewrite must match as
 * often as expected, or the build fails.
 */
export function withHalfTwins(text: string): string {
  const begin = text.indexOf(';; [half twins begin]');
  const end = text.indexOf(';; [half twins end]');
  if (begin < 0 || end < begin) throw new Error('half twins: attention.wat must mark its projection kernels with [half twins begin] and [half twins end]');
  const functions = text.slice(text.indexOf('\n', begin) + 1, end);
  const split = functions.indexOf('(func $project_token ');
  if (split < 0) throw new Error('half twins: $project_token must follow project between the marks');
  const twins = HALVES.map((half) => twin(functions.slice(0, split), functions.slice(split), half) + widening(half)).join('');
  return `${text.slice(0, end)}${twins}${text.slice(end)}`;
}

/**
 * `widen_${suffix}(dst, src, count)`: the `count` 16-bit weights at `src` widened to float32s at
 * `dst`, four at a time as the prompt twin widens them, the last one to three by its tail; `dst`
 * has room for `count` rounded up to four (the rest of that chunk is zeros). A prompt widens a
 * matrix a block of rows at a time and runs the float32 `project` over the block (the engine's
 * ArenaWeights): the twin widens each weight once per group of four tokens, and its widening,
 * binary16's above all, held its loop to half `project`'s speed.
 */
function widening(half: Half): string {
  const load = half.prompt('').replaceAll('(local.get $1)', '(local.get $src)');
  return `
  (func (export "widen_${half.suffix}") (param $dst i32) (param $src i32) (param $count i32)
    (local $end i32) ${half.locals?.declared ?? ''}
    ${half.locals?.set ?? ''}(local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $count) (i32.const -4)) (i32.const 1))))
    (block $done
      (loop $chunks
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (v128.store (local.get $dst) ${load})
        (local.set $src (i32.add (local.get $src) (i32.const 8)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $chunks)))
    (if (i32.and (local.get $count) (i32.const 3))
      (then (v128.store (local.get $dst) (call $tail4_${half.suffix} (local.get $src) (i32.and (local.get $count) (i32.const 3)))))))
`;
}

/** How one 16-bit format's twins read four weights at `$w` (a captured pointer, `$1`) plus `offset`. */
interface Half {
  /** The twins' names: `project_${suffix}`, `$project_token_${suffix}`, `$tail4_${suffix}`. */
  readonly suffix: string;
  /** Four weights widened, in the prompt loop. */
  readonly prompt: (offset: string) => string;
  /** Four weights widened, in a single token's loop. */
  readonly token: (offset: string) => string;
  /** Locals the widening reads, declared beside `$xv` and set first thing. */
  readonly locals?: { readonly declared: string; readonly set: string };
}

/**
 * binary16 bits h, sign-extended to 32 and shifted left by 13, hold the sign in bits 31 to 28, the
 * exponent in 27 to 23 and the fraction in 22 to 13: with bits 30 to 28 cleared, a float32 whose
 * exponent is 112 short (both biases' difference), multiplied by 2¹¹² exactly (subnormal halves
 * become subnormal float32s first, whose product is exact too; zeros stay zeros). Exponent 31
 * (Infinity, NaN) would widen to a finite number: no weight is one, resolveOptions refuses them.
 */
const fromF16 = (sign16: string) => `(f32x4.mul (v128.and (i32x4.shl ${sign16} (i32.const 13)) (local.get $f16_mask)) (local.get $f16_scale))`;

/**
 * The constants of {@link fromF16}, in locals set once a call: V8 builds a `v128.const` (other than
 * zeros) anew at each use, which in these loops cost more than the widening's own instructions.
 */
const F16_LOCALS = '(local $f16_mask v128) (local $f16_scale v128)';
const F16_CONSTANTS =
  '(local.set $f16_mask (v128.const i32x4 0x8fffffff 0x8fffffff 0x8fffffff 0x8fffffff))\n' +
  '    (local.set $f16_scale (v128.const f32x4 0x1p112 0x1p112 0x1p112 0x1p112))\n    ';

/**
 * The formats. bfloat16 is a float32's upper half; its two functions widen differently, each the
 * faster for its loop (measured on the machine of docs/performance.md, both builds in one
 * process): a single token's loop is bound by the instructions on the vector shuffle ports, where
 * an 8-byte load and an interleave with zeros (`i8x16.shuffle` as punpcklwd) puts each half in
 * place in one of them, ~1.17-1.25x the multiply-adds a second of a zero-extending load and a
 * shift, which take two; in the prompt loop, with eight sums live, the interleave ran at half the
 * speed of the extend and shift. binary16 takes a sign-extending load in both ({@link fromF16}).
 */
const HALVES: readonly Half[] = [
  {
    suffix: 'bf16',
    prompt: (offset) => `(i32x4.shl (v128.load16x4_u${offset} align=2 (local.get $1)) (i32.const 16))`,
    token: (offset) => `(i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (v128.const i64x2 0 0) (v128.load64_zero${offset} align=2 (local.get $1)))`,
  },
  {
    suffix: 'f16',
    prompt: (offset) => fromF16(`(v128.load16x4_s${offset} align=2 (local.get $1))`),
    token: (offset) => fromF16(`(v128.load16x4_s${offset} align=2 (local.get $1))`),
    locals: { declared: F16_LOCALS, set: F16_CONSTANTS },
  },
];

/** `project` (`prompt`) and `$project_token` (`token`) rewritten for `half`. */
function twin(prompt: string, token: string, half: Half): string {
  const tail = `(call $tail4_${half.suffix} (local.get $1)`;
  const locals: [RegExp, string, number][] =
    half.locals === undefined
      ? []
      : [
          [/\(local \$xv v128\)/g, `(local $xv v128) ${half.locals.declared}`, 1],
          [/\(local\.set \$cols4 /g, `${half.locals.set}(local.set $cols4 `, 1],
        ];
  const promptTwin = rewritten(prompt, half.suffix, [
    [/\(export "project"\)/g, `(export "project_${half.suffix}")`, 1],
    [/\(v128\.load align=4 \(local\.get (\$w\d)\)\)/g, half.prompt(''), 2],
    [/\(i32\.add \(local\.get (\$w\d)\) \(i32\.const 16\)\)/g, '(i32.add (local.get $1) (i32.const 8))', 2],
    [/\(call \$tail4 \(local\.get (\$w\d)\)/g, tail, 2],
    ...locals,
  ]);
  const tokenTwin = rewritten(token, half.suffix, [
    [/\(v128\.load align=4 \(local\.get (\$w\d)\)\)/g, half.token(''), 8],
    [/\(v128\.load offset=16 align=4 \(local\.get (\$w\d)\)\)/g, half.token(' offset=8'), 4],
    [/\(i32\.add \(local\.get (\$w\d)\) \(i32\.const 16\)\)/g, '(i32.add (local.get $1) (i32.const 8))', 4],
    [/\(i32\.add \(local\.get (\$w\d)\) \(i32\.const 32\)\)/g, '(i32.add (local.get $1) (i32.const 16))', 4],
    [/\(call \$tail4 \(local\.get (\$w\d)\)/g, tail, 4],
    ...locals,
  ]);
  return promptTwin + tokenTwin;
}

/** `part` with the rewrites both functions share and its own, each matching `count` times. */
function rewritten(part: string, suffix: string, own: readonly [RegExp, string, number][]): string {
  const shared: [RegExp, string, number][] = [
    [/\$project_token\b/g, `$project_token_${suffix}`, 1],
    [/\(local\.set \$wstride \(i32\.shl \(local\.get \$cols\) \(i32\.const 2\)\)\)/g, '(local.set $wstride (i32.shl (local.get $cols) (i32.const 1)))', 1],
  ];
  let twin = part;
  for (const [pattern, replacement, count] of [...shared, ...own]) {
    const found = twin.match(pattern)?.length ?? 0;
    if (found !== count) throw new Error(`half twins (${suffix}): expected ${count} matches of ${pattern}, found ${found}`);
    twin = twin.replace(pattern, replacement);
  }
  // Any other read through a weight pointer would still read float32s.
  const missed = /v128\.load(?!16x4_[us]|64_zero)[^\n]*\(local\.get \$w\d\)/.exec(twin);
  if (missed !== null) throw new Error(`half twins (${suffix}): a weight read left as float32: ${missed[0]}`);
  return twin;
}
