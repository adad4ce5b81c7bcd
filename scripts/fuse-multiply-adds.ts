/**
 * The relaxed-SIMD twin of attention.wat's text: every f32x4 sum of a product, `(f32x4.add X
 * (f32x4.mul A B))`, becomes `(f32x4.relaxed_madd A B X)`, and a sum of two products,
 * `(f32x4.add X (f32x4.add (f32x4.mul A B) (f32x4.mul C D)))` ($scores' pass), becomes
 * `(f32x4.relaxed_madd C D (f32x4.relaxed_madd A B X))`. Nothing else changes, so the twin is the
 * same kernels with the product-adds fused where the engine compiles relaxed_madd to a fused
 * multiply-add (V8 on x64 with FMA3, and on arm64). scripts/build-wasm.ts compiles both.
 */
export function fuseMultiplyAdds(text: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const start = text.indexOf('(f32x4.add', at);
    if (start < 0) return out + text.slice(at);
    out += text.slice(at, start);
    const end = closingOf(text, start);
    const [x, y] = operands(text.slice(start + '(f32x4.add'.length, end - 1));
    out += fusedSum(fuseMultiplyAdds(x), y);
    at = end;
  }
}

/** `(f32x4.add x y)` with y a product, or a sum of two products, fused; otherwise as it was (its operands fused inside). */
function fusedSum(x: string, y: string): string {
  const product = productOf(y);
  if (product !== null) return `(f32x4.relaxed_madd ${product[0]} ${product[1]} ${x})`;
  if (y.startsWith('(f32x4.add')) {
    const [p, q] = operands(y.slice('(f32x4.add'.length, -1));
    const first = productOf(p);
    const second = productOf(q);
    if (first !== null && second !== null) return `(f32x4.relaxed_madd ${second[0]} ${second[1]} (f32x4.relaxed_madd ${first[0]} ${first[1]} ${x}))`;
  }
  return `(f32x4.add ${x} ${fuseMultiplyAdds(y)})`;
}

/** The two operands of `(f32x4.mul a b)`, fused inside, or null when `e` is not one. */
function productOf(e: string): [string, string] | null {
  if (!e.startsWith('(f32x4.mul')) return null;
  const [a, b] = operands(e.slice('(f32x4.mul'.length, -1));
  return [fuseMultiplyAdds(a), fuseMultiplyAdds(b)];
}

/** The two s-expressions (or plain tokens) in `body`, trimmed; throws on any other count. */
function operands(body: string): [string, string] {
  const found: string[] = [];
  let i = 0;
  for (;;) {
    while (i < body.length && /\s/.test(body[i]!)) i++;
    if (i >= body.length) break;
    const end = body[i] === '(' ? closingOf(body, i) : tokenEnd(body, i);
    found.push(body.slice(i, end));
    i = end;
  }
  if (found.length !== 2) throw new Error(`fuseMultiplyAdds: expected two operands, got ${found.length} in ${body.trim().slice(0, 80)}`);
  return [found[0]!, found[1]!];
}

/** The index just past the parenthesis that closes the one at `open` (WAT line comments skipped). */
function closingOf(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === ';' && text[i + 1] === ';') {
      const newline = text.indexOf('\n', i);
      i = newline < 0 ? text.length : newline;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  throw new Error(`fuseMultiplyAdds: unbalanced parentheses from offset ${open}`);
}

function tokenEnd(text: string, i: number): number {
  while (i < text.length && !/[\s()]/.test(text[i]!)) i++;
  return i;
}
