import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { batchAttention, createAttention } from '../../src/index.js';
import type { AttentionOptions, AttentionWeights } from '../../src/index.js';
import { wasmKernelsAvailable } from '../../src/kernels/wasm/wasm-arena.js';
import { referenceAttention } from '../../src/testing/index.js';
import { expectClose } from './close.js';

/** One case of a numpy fixture written by scripts/reference/*.py: options, inputs, weights and float64 outputs. */
export interface NumpyCase {
  readonly name: string;
  readonly options: AttentionOptions;
  readonly x: number[][];
  readonly weights: AttentionWeights;
  readonly outputs: number[][];
}

/** The cases of test/fixtures/`file`, as `it.each` rows: [name, case]. */
export function numpyCases(file: string): (readonly [string, NumpyCase])[] {
  const { cases } = JSON.parse(readFileSync(new URL(`../fixtures/${file}`, import.meta.url), 'utf8')) as { cases: NumpyCase[] };
  return cases.map((c) => [c.name, c] as const);
}

/**
 * Checks a case on every path against numpy's outputs: float64 within 1e-12, float32 within 1e-5
 * on both kernel paths; pushes, pushMany, batchAttention and the testing kit's reference (1e-12).
 */
export function expectNumpyCase(c: NumpyCase): void {
  const runs = [['float64', 'auto', 1e-12], ['float32', 'auto', 1e-5], ['float32', 'js', 1e-5]] as const;
  for (const [precision, kernels, tolerance] of runs) {
    const options: AttentionOptions = { ...c.options, precision, kernels, weights: c.weights };
    const engine = createAttention(options);
    expect(engine.options.kernels).toBe(precision === 'float32' && kernels === 'auto' && wasmKernelsAvailable() ? 'wasm' : 'js');
    const many = createAttention(options).pushMany(c.x);
    const batch = batchAttention(c.x, options);
    const kit = referenceAttention(c.x, options);
    c.x.forEach((x, i) => {
      expectClose(engine.push(x)[0]!.output, c.outputs[i]!, tolerance, `${c.name} ${precision} ${kernels} push ${i}`);
      expectClose(many[i]!.output, c.outputs[i]!, tolerance, `pushMany ${i}`);
      expectClose(batch[i]!.output, c.outputs[i]!, tolerance, `batch ${i}`);
      expectClose(kit[i]!.output, c.outputs[i]!, 1e-12, `testing kit ${i}`);
    });
  }
}
