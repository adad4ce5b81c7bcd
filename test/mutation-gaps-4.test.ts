import { describe, expect, it } from 'vitest';
import { createAttention, createAttentionStack, createLinear, restoreAttention } from '../src/index.js';
import type { Attention } from '../src/index.js';
import { decodeSafetensors } from '../src/cache/safetensors.js';
import { edited } from './support/edited-snapshot.js';
import { firstBlock, refillingFile } from './support/int8-files.js';
import { refusal } from './support/refusal.js';

// Behaviours a fourth mutation test found no test held (138 mutants of the code changed in sessions
// 22–23: int8 floors, quantizing, snapshot checks, vector lengths, createLinear's row, cache event
// dispatch; 97 killed, 13 equivalent, 2 benign): each test here fails with its mutant applied.

/** float32's largest finite number. */
const F = 3.4028234663852886e38;


/** A float64 int8 engine (its caller projects, dim 1, blocks of 2) whose block 0 held keys [1, 0.5], truncated to 1: floor s = fround(1/127). */
function floored(): { attn: Attention; s: number } {
  const attn = createAttention({ dim: 1, blockSize: 2, precision: 'float64', cacheDtype: 'int8', weights: {} });
  attn.pushQKV([1], [1], [1]);
  attn.pushQKV([1], [0.5], [1]);
  const s = firstBlock(attn).keyScales[0]!;
  expect(s).toBe(Math.fround(1 / 127));
  attn.truncate(1);
  return { attn, s };
}

describe('int8 floors: what a fourth mutation test found unheld', () => {
  it('a key of exactly 127.5 times the floor fits it: the scale stays, and the key rounds to 127, not past it', () => {
    const { attn, s } = floored();
    attn.pushQKV([1], [127.5 * s], [1]);
    const { keysInt8, keyScales } = firstBlock(attn);
    expect(Array.from(keyScales)).toEqual([s]);
    expect(Array.from(keysInt8)).toEqual([127, 127]);
    // The file restores (an entry of -128 would be refused) and goes on as the engine does.
    const file = attn.snapshot();
    expect(restoreAttention(file).pushQKV([1], [0.25], [2])).toEqual(attn.pushQKV([1], [0.25], [2]));
  });

  it('a key past 127.5 times the floor grows the scale exactly twofold when that is enough', () => {
    const { attn, s } = floored();
    attn.pushQKV([1], [127.75 * s], [1]);
    expect(Array.from(firstBlock(attn).keyScales)).toEqual([2 * s]);
  });

  it("each kv head keeps its own floor scales, not another head's", () => {
    // kv head 0's keys are ten times head 1's: a floor read from the wrong head would change the scales.
    const attn = createAttention({ dim: 2, heads: 2, kvHeads: 2, headDim: 1, blockSize: 4, precision: 'float64', cacheDtype: 'int8', weights: {} });
    const keys = [[1, 0.1], [-2, 0.2], [3, -0.3], [10, 1]];
    for (const k of keys) attn.pushQKV([1, 1], k, [1, 1]);
    const first = firstBlock(attn);
    attn.truncate(3);
    attn.pushQKV([1, 1], [0.5, 0.05], [1, 1]);
    const now = firstBlock(attn);
    expect(Array.from(now.keyScales)).toEqual(Array.from(first.keyScales));
    expect(Array.from(now.keysInt8.subarray(0, 3))).toEqual(Array.from(first.keysInt8.subarray(0, 3)));
    expect(Array.from(now.keysInt8.subarray(4, 7))).toEqual(Array.from(first.keysInt8.subarray(4, 7)));
  });

  it("stats() counts a filling block's floor scales in its bytes", () => {
    const attn = createAttention({ dim: 2, blockSize: 4, kernels: 'js', cacheDtype: 'int8', weights: {} });
    for (const k of [[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2], [2, -3]]) attn.pushQKV(k, k, k);
    // Quantized: 8 int8 keys, 2 float32 scales, 8 int8 values, 4 float32 value scales.
    expect(attn.stats().bytes).toBe(8 + 8 + 8 + 16);
    attn.truncate(2);
    attn.pushQKV([1, 1], [0.2, 0.1], [1, 1]);
    // Float keys again (8 float32), their 2 floor scales, and the values as before.
    expect(attn.stats().bytes).toBe(32 + 8 + 8 + 16);
  });
});

describe('int8 input range: what a fourth mutation test found unheld', () => {
  it("a float64 engine takes a key or value of exactly ±127 times float32's largest, whose scale is float32's largest", () => {
    const attn = createAttention({ dim: 1, blockSize: 2, precision: 'float64', cacheDtype: 'int8', weights: {} });
    const edge = 127 * F;
    attn.pushQKV([1e-300], [edge], [-edge]);
    const [step] = attn.pushQKV([1e-300], [1], [edge]);
    expect(Number.isFinite(step!.output[0]!)).toBe(true);
    expect(Array.from(firstBlock(attn).keyScales)).toEqual([F]);
  });

  it('restore refuses a negative int8 scale, which quantizing never makes', () => {
    const attn = createAttention({ dim: 2, blockSize: 2, cacheDtype: 'int8' });
    attn.pushMany([[0.3, -0.2], [0.1, 0.4], [1, 1]]);
    const file = edited(attn.snapshot(), (t) => {
      const data = Float32Array.from(t.get('key_scales')!.data as Float32Array);
      data[1] = -data[1]!;
      t.set('key_scales', { dtype: 'F32', shape: [1, 1, 2], data });
    });
    const error = refusal(() => restoreAttention(file));
    expect(error).toMatchObject({ code: 'CORRUPT_SNAPSHOT', message: `snapshot: tensor key_scales holds an invalid scale at element 1: ${-(decodeSafetensors(attn.snapshot()).tensors.get('key_scales')!.data[1] as number)}` });
  });
});

describe('blocks taken back: what a fourth mutation test found unheld', () => {
  it("a fork of a block a refused call gave back keeps its keys when the engine it came from fills another block", () => {
    // The call takes the block's float keys back from the cache's scratch row: shared with the
    // block, the engine's next call to fill a block from its middle would overwrite the fork's keys.
    const options = { dim: 2, blockSize: 2, precision: 'float64' as const, cacheDtype: 'int8' as const };
    const attn = createAttention(options);
    attn.push([0.3, -0.2]);
    expect(refusal(() => attn.pushMany([[0.1, 0.4], [1e200, 0]])).code).toBe('NON_FINITE');
    const fork = attn.fork();
    attn.push([0.5, 0.5]);
    attn.push([-0.7, 0.9]);
    attn.push([0.2, -0.6]);
    const fresh = createAttention(options);
    fresh.push([0.3, -0.2]);
    expect(fork.push([0.4, 0.1])).toEqual(fresh.push([0.4, 0.1]));
    expect(fork.snapshot()).toEqual(fresh.snapshot());
  });
});

describe('stack snapshots: what a fourth mutation test found unheld', () => {
  it("a stack whose layer holds floor scales is written at version 5, which an older version-4 reader would refuse", () => {
    const stack = createAttentionStack({ layers: 2, dim: 2, blockSize: 4, cacheDtype: 'int8' });
    for (const x of [[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2], [2, -3]]) for (let i = 0; i < 2; i++) stack.layer(i).push(x);
    expect(decodeSafetensors(stack.snapshot()).metadata['version']).toBe('2');
    stack.truncate(2);
    for (let i = 0; i < 2; i++) stack.layer(i).push([0.2, 0.1]);
    const { tensors, metadata } = decodeSafetensors(stack.snapshot());
    expect(tensors.has('layers.0.key_floors')).toBe(true);
    expect(metadata['version']).toBe('5');
  });
});

describe('snapshot checks: what a fourth mutation test found unheld', () => {
  it.each<[string, Parameters<typeof edited>[1], string]>([
    ['a NaN key scale', (t) => {
      const data = Float32Array.from(t.get('key_scales')!.data as Float32Array);
      data[1] = NaN;
      t.set('key_scales', { dtype: 'F32', shape: [1, 1, 2], data });
    }, 'tensor key_scales holds an invalid scale at element 1: NaN'],
    ['a negative key scale', (t) => {
      const data = Float32Array.from(t.get('key_scales')!.data as Float32Array);
      data[0] = -0.5;
      t.set('key_scales', { dtype: 'F32', shape: [1, 1, 2], data });
    }, 'tensor key_scales holds an invalid scale at element 0: -0.5'],
    ['an int8 value of -128 at element 0', (t) => {
      const data = Int8Array.from(t.get('values_int8')!.data as Int8Array);
      data[0] = -128;
      t.set('values_int8', { dtype: 'I8', shape: [5, 1, 2], data });
    }, 'tensor values_int8 holds -128 at element 0, outside the -127 to 127 quantizing makes'],
    ['a floor block named twice', (t) => {
      const floors = t.get('key_floors')!.data as Float32Array;
      t.set('key_floor_blocks', { dtype: 'I32', shape: [2], data: Int32Array.of(1, 1) });
      t.set('key_floors', { dtype: 'F32', shape: [2, 1, 2], data: Float32Array.of(...floors, ...floors) });
    }, 'key_floor_blocks must ascend and name held blocks whose keys are float, got 1 at 1'],
  ])('refuse %s (CORRUPT_SNAPSHOT)', (_, edit, message) => {
    const error = refusal(() => restoreAttention(edited(refillingFile(), edit)));
    expect(error).toMatchObject({ code: 'CORRUPT_SNAPSHOT', details: { field: 'snapshot' }, message: `snapshot: ${message}` });
  });

  it("refuses a float64 int8 engine's float key past ±4.3e40 at element 0 too", () => {
    const file = edited(refillingFile('float64'), (t) => {
      const data = Float64Array.from(t.get('keys')!.data as Float64Array);
      data[0] = 1e41;
      t.set('keys', { dtype: 'F64', shape: [2, 1, 2], data });
    });
    expect(refusal(() => restoreAttention(file)).message).toBe("snapshot: tensor keys holds 1e+41 at element 0, beyond the ±4.3e40 an int8 cache's float32 scales reach");
  });

  it("a float64 int8 engine's file holding a float key of exactly 127 times float32's largest restores", () => {
    const attn = createAttention({ dim: 1, blockSize: 4, precision: 'float64', cacheDtype: 'int8', weights: {} });
    attn.pushQKV([1e-300], [127 * F], [1]);
    const restored = restoreAttention(attn.snapshot());
    expect(restored.pushQKV([1e-300], [1], [2])).toEqual(attn.pushQKV([1e-300], [1], [2]));
  });

  it('a float64 engine whose cache is float64 saves and restores keys far past ±4.3e40: only int8 caches bound them', () => {
    const attn = createAttention({ dim: 1, precision: 'float64', weights: {} });
    attn.pushQKV([1e-300], [1e100], [1]);
    const restored = restoreAttention(attn.snapshot());
    expect(restored.pushQKV([1e-300], [-1e100], [2])).toEqual(attn.pushQKV([1e-300], [-1e100], [2]));
  });

  it('an engine with sink logits whose int8 block holds floor scales is written at version 5', () => {
    const attn = createAttention({ dim: 2, blockSize: 4, cacheDtype: 'int8', sinkLogits: [0.5] });
    attn.pushMany([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2], [2, -3]]);
    expect(decodeSafetensors(attn.snapshot()).metadata['version']).toBe('4');
    attn.truncate(2);
    attn.push([0.2, 0.1]);
    expect(decodeSafetensors(attn.snapshot()).metadata['version']).toBe('5');
  });
});

describe('inputs, linear rows and cache events: what a fourth mutation test found unheld', () => {
  it("a Float64Array's wrapper is refused as no array, never a TypeError", () => {
    const attn = createAttention({ dim: 2 });
    const error = refusal(() => attn.push(new Proxy(new Float64Array(2), {}) as Float64Array));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'x' } });
  });

  it('an input whose length is not a number is no array (INVALID_ARGUMENT), not one of the wrong length', () => {
    const attn = createAttention({ dim: 2 });
    const error = refusal(() => attn.push({ length: '2', 0: 1, 1: 2 } as unknown as number[]));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'x' } });
  });

  it('row(i, out) takes an out of exactly cols numbers', () => {
    for (const kernels of ['auto', 'js'] as const) {
      const layer = createLinear({ rows: 2, cols: 3, weight: [1, 2, 3, 4, 5, 6], kernels });
      const out = new Float32Array(3);
      expect(layer.row(1, out)).toBe(out);
      expect(Array.from(out)).toEqual([4, 5, 6]);
    }
  });

  it('a listener added twice is one registration: the function either add returned stops it', () => {
    const attn = createAttention({ dim: 2 });
    const heard: string[] = [];
    const listener = (e: { type: string }) => heard.push(e.type);
    const stop = attn.addCacheListener(listener);
    attn.addCacheListener(listener);
    stop();
    attn.push([1, 2]);
    expect(heard).toEqual([]);
  });

  it('the function an earlier add returned does not stop the listener added again after it stopped', () => {
    const attn = createAttention({ dim: 2 });
    const heard: string[] = [];
    const listener = (e: { type: string }) => heard.push(e.type);
    const stop = attn.addCacheListener(listener);
    stop();
    attn.addCacheListener(listener);
    stop();
    attn.push([1, 2]);
    expect(heard).toEqual(['append']);
  });

  it('a listener that disposes the engine leaves the others to hear that event and the dispose', () => {
    const attn = createAttention({ dim: 2 });
    const heard: string[] = [];
    attn.addCacheListener((e) => {
      if (e.type === 'append') attn.dispose();
    });
    attn.addCacheListener((e) => heard.push(e.type));
    attn.push([1, 2]);
    expect(heard).toEqual(['append', 'dispose']);
  });
});

describe('refused calls across blocks: what a fourth mutation test found unheld', () => {
  it('a refused call that filled its first block and then a whole other one leaves the cache bit for bit as it was', () => {
    for (const kernels of ['auto', 'js'] as const) {
      const attn = createAttention({ dim: 2, blockSize: 2, precision: 'float64', kernels, cacheDtype: 'int8' });
      attn.push([0.3, -0.2]);
      const before = attn.snapshot();
      // Fills block 0 (begun before the call), then block 1 whole, then overflows a score.
      expect(refusal(() => attn.pushMany([[0.1, 0.4], [5, -7], [-6, 8], [1e200, 0]])).code).toBe('NON_FINITE');
      expect(attn.snapshot()).toEqual(before);
    }
  });
});
