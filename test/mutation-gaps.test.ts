import { lastValueFrom, of, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createAttention, createAttentionStack, createCrossAttention, createLinear, llama3RopeFrequencies, pushEachQKV, restoreCrossAttention } from '../src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../src/cache/safetensors.js';
import { attend } from '../src/rx/index.js';

// Behaviours a mutation test of the suite found no test held (each test here fails with its
// mutant applied): small contracts of cross-attention, linear layers, stacks, snapshots, the
// WebAssembly int8 scores, attend and the rope_scaling helpers.

describe('contracts a mutation test found unheld', () => {
  it("a cross-attention's next index counts every query attendMany attended", () => {
    // Mutant: attended += 1 per call.
    const cross = createCrossAttention({ dim: 2 });
    cross.setMemory([[1, 0], [0, 1]]);
    expect(cross.attendMany([[1, 0], [0, 1], [1, 1]]).map((s) => s.index)).toEqual([0, 1, 2]);
    expect(cross.attend([1, 0]).index).toBe(3);
  });

  it("a linear layer's outputs are the caller's own: a later call changes none of them", () => {
    // Mutant: apply returned its scratch, which the next call overwrote.
    for (const kernels of ['auto', 'js'] as const) {
      const linear = createLinear({ rows: 2, cols: 2, weight: [1, 2, 3, 4], kernels });
      const first = linear.apply([1, 0]);
      const second = linear.apply([0, 1]);
      expect([Array.from(first), Array.from(second)]).toEqual([[1, 3], [2, 4]]);
      const many = linear.applyMany([[1, 1]]);
      linear.applyMany([[5, 5]]);
      expect(Array.from(many)).toEqual([3, 7]);
    }
  });

  it("a linear layer refuses an output that overflows in any of applyMany's inputs, naming it", () => {
    // Mutant: only the first input's output was checked.
    const linear = createLinear({ rows: 1, cols: 1, weight: [1e38] });
    expect(() => linear.applyMany([[1], [10]])).toThrow(expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'output', token: 1 }) }));
  });

  it("a stack's total counts the blocks its layers share, not all their blocks", () => {
    // Mutant: the total's sharedBlocks summed every layer's blocks.
    const stack = createAttentionStack({ layers: 2, dim: 2, blockSize: 2 });
    for (let t = 0; t < 5; t++) for (let i = 0; i < 2; i++) stack.layer(i).push([t, 1]);
    const fork = stack.fork();
    fork.layer(0).push([9, 9]);
    const { layers, total } = fork.stats();
    expect(total.sharedBlocks).toBe(layers[0]!.sharedBlocks + layers[1]!.sharedBlocks);
    expect(total.sharedBlocks).toBeLessThan(total.blocks);
  });

  it("pushEachQKV names a bad row's token as its engine's position", () => {
    // Mutant: v rows were named token 0 whatever the engine's length.
    const root = createAttention({ dim: 2, heads: 1, weights: {} });
    root.pushQKV([1, 0], [0, 1], [1, 1]);
    const beams = [root.fork(), root.fork()];
    expect(() => pushEachQKV(beams, [[1, 0], [1, 0]], [[1, 0], [1, 0]], [[1, 0], [Number.NaN, 0]])).toThrow(
      expect.objectContaining({ code: 'NON_FINITE', details: expect.objectContaining({ field: 'v', token: 1, engine: 1 }) }),
    );
  });

  it("a snapshot's header is padded to 8 bytes, so its data is aligned for readers that map it", () => {
    // Mutant: no padding.
    for (const dim of [1, 2, 3, 5, 7]) {
      const attn = createAttention({ dim });
      attn.push(new Array(dim).fill(1));
      const bytes = attn.snapshot();
      expect(Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)) % 8).toBe(0);
      expect(() => new Float32Array(bytes.buffer, bytes.byteOffset + bytes.length - 4, 1)).not.toThrow();
    }
  });

  it('int8 scores on the WebAssembly kernels equal the TypeScript ones for heads of 16 channels and more', () => {
    // Mutant: the 16-channel pass read the query's fourth quarter at the third's offset; the
    // property tests drew heads of 8 channels at most.
    for (const headDim of [16, 17, 20, 33]) {
      const weightsOf = (kernels: 'auto' | 'js') => {
        const attn = createAttention({ dim: headDim, headDim, heads: 1, cacheDtype: 'int8', kernels, withWeights: true, blockSize: 4, weights: {} });
        let last: Float32Array | Float64Array = new Float32Array(0);
        for (let t = 0; t < 9; t++) {
          const row = (f: (c: number) => number) => Array.from({ length: headDim }, (_, c) => f(c));
          last = attn.pushQKV(row((c) => (c >= 12 ? 3 : 0.1) * Math.cos(t + c)), row((c) => Math.sin(3 * t + c)), row((c) => Math.cos(t * c)))[0]!.weights![0]!;
        }
        return Array.from(last);
      };
      const [wasm, js] = [weightsOf('auto'), weightsOf('js')];
      wasm.forEach((w, j) => expect(Math.abs(w - js[j]!), `headDim ${headDim} key ${j}`).toBeLessThan(1e-5));
    }
  });

  it('attend subscribed again, after its first engine was disposed and another took the memory, computes with its own weights', async () => {
    // Mutant: the operator reused the released copy of its weights in the kernels' memory.
    const dim = 8;
    const w = (s: number) => Array.from({ length: dim * dim }, (_, i) => Math.sin(i * s));
    const op = attend({ dim, heads: 2, weights: { wq: w(1), wk: w(2), wv: w(3), wo: w(4) } });
    const x = Array.from({ length: dim }, (_, i) => i / 10 - 0.3);
    const first = await lastValueFrom(of(x).pipe(op, toArray()));
    const other = createAttention({ dim, heads: 2, weights: { wq: w(5), wk: w(6), wv: w(7), wo: w(8) } });
    const second = await lastValueFrom(of(x).pipe(op, toArray()));
    expect(Array.from(second[0]!.output)).toEqual(Array.from(first[0]!.output));
    other.dispose();
  });

  it('a rope_scaling whose speed underflows to 0 is refused: that pair would stop rotating', () => {
    // Mutant: a speed of 0 passed the check.
    expect(() => llama3RopeFrequencies({ ropeDim: 4, ropeBase: 1e40, factor: 1e308, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'factor' } }),
    );
  });

  it("a cross-attention file whose weights lack wq, wk, wv is refused as corrupt, not restored to fail at attend", () => {
    // Mutant: the check dropped; attend then threw a TypeError.
    const engine = createAttention({ dim: 2, precision: 'float64', weights: { wo: [1, 0, 0, 1] } });
    engine.pushQKV([1, 0], [1, 0], [0, 1]);
    const { tensors, metadata } = decodeSafetensors(engine.snapshot());
    const forged = encodeSafetensors(Object.fromEntries(tensors), { ...metadata, format: 'attnstream.cross-attention', attended: '0' });
    expect(() => restoreCrossAttention(forged)).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: expect.stringContaining('no wq, wk, wv') }));
  });
});
