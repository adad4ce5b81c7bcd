import wabtModule from 'wabt';
import { timed } from '../interleave.js';

/** Four rows of A against two of B: of the blockings tried here (2×2 … 4×3), the one V8 keeps in registers best. */
const ROWS = 4;
const COLS = 2;
/** Byte mask of the walk over A: 512 bytes, so every load hits the L1 cache. */
const SPAN = 511;
const ITERATIONS = 10_000_000;
/**
 * Compilations of the probe, each timed {@link RUNS} times: one compilation's rate varies by up to
 * 1.6× from another's in the same process here (where its code lands, we suppose), so the best
 * of several is the machine's.
 */
const MODULES = 4;
const RUNS = 4;

/**
 * The float32 multiply-add rate (GMAC/s, best over {@link MODULES} compilations) of the inner loop of a
 * register-blocked matrix product in WebAssembly SIMD, on one thread, with its data in the L1
 * cache: 4 × 2 f32x4 accumulators, each step loading four vectors of A and two of B. No kernel of
 * the engine's can multiply and add faster on this machine, so a section's multiply-add count over
 * this rate is the least time the work can take. With relaxed SIMD (which the kernels then use),
 * the fused `f32x4.relaxed_madd` is timed too and the faster kept.
 */
export async function multiplyAddPeak(): Promise<number> {
  const wabt = await wabtModule();
  let best = 0;
  for (const fused of [false, true]) {
    const features = { simd: true, relaxed_simd: fused };
    const parsed = wabt.parseWat('peak.wat', probeSource(fused), features);
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = Uint8Array.from(parsed.toBinary({}).buffer);
    } finally {
      parsed.destroy();
    }
    if (!WebAssembly.validate(bytes)) continue;
    for (let m = 0; m < MODULES; m++) {
      const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
      const run = exports.run as (iterations: number) => number;
      for (let r = 0; r < RUNS; r++) {
        let sum = 0;
        const seconds = timed(() => {
          sum = run(ITERATIONS);
        });
        // The memory is zeros: a sum of anything else means the probe did not run the loop it wrote.
        if (sum !== 0) throw new Error(`multiply-add probe: a sum of ${sum}, not 0`);
        best = Math.max(best, (ITERATIONS * ROWS * COLS * 4) / seconds / 1e9);
      }
    }
  }
  return best;
}

/** The probe's module: `run(n)` makes n steps of the ROWS × COLS block and returns one lane of the accumulators' sum. */
function probeSource(fused: boolean): string {
  const locals: string[] = ['(local $p i32) (local $a v128)'];
  const body: string[] = [];
  for (let i = 0; i < ROWS * COLS; i++) locals.push(`(local $c${i} v128)`);
  for (let j = 0; j < COLS; j++) {
    locals.push(`(local $b${j} v128)`);
    body.push(`(local.set $b${j} (v128.load offset=${1024 + 16 * j} (local.get $p)))`);
  }
  for (let i = 0; i < ROWS; i++) {
    body.push(`(local.set $a (v128.load offset=${16 * i} (local.get $p)))`);
    for (let j = 0; j < COLS; j++) {
      const c = `(local.get $c${i * COLS + j})`;
      const product = fused ? `(f32x4.relaxed_madd (local.get $a) (local.get $b${j}) ${c})` : `(f32x4.add ${c} (f32x4.mul (local.get $a) (local.get $b${j})))`;
      body.push(`(local.set $c${i * COLS + j} ${product})`);
    }
  }
  let sum = '(local.get $c0)';
  for (let i = 1; i < ROWS * COLS; i++) sum = `(f32x4.add ${sum} (local.get $c${i}))`;
  return `(module (memory 1)
  (func (export "run") (param $n i32) (result f32) ${locals.join(' ')}
    (loop $step ${body.join('\n')}
      (local.set $p (i32.and (i32.add (local.get $p) (i32.const ${16 * ROWS})) (i32.const ${SPAN})))
      (br_if $step (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (f32x4.extract_lane 0 ${sum})))`;
}
