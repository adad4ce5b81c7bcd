import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  batchAttention,
  createAttention,
  createAttentionStack,
  createCrossAttention,
  pushEach,
  readSafetensors,
  resolveOptions,
  restoreAttention,
  restoreAttentionStack,
} from '../src/index.js';
import type { Attention, AttentionStep, CacheEvent } from '../src/index.js';
import { decodeSafetensors } from '../src/cache/safetensors.js';
import type { TensorInput } from '../src/cache/safetensors.js';
import { decodeEmbeddings, EmbeddingTable, generate } from '../src/rx/index.js';
import { FORMAT_VERSION, HEADER_BYTES, MAGIC } from '../src/rx/embedding-format.js';
import { attentionOptionsArbitrary, checkCacheLaws, checkIncremental } from '../src/testing/index.js';
import type { AttentionFactory, CachedAttention, IncrementalAttention } from '../src/testing/index.js';
import { EXIT } from '../src/cli/cli-error.js';
import { runCli } from '../src/cli/run-cli.js';
import type { CliIo } from '../src/cli/run-cli.js';
import { startThreadPool } from '../src/kernels/wasm/start-thread-pool.js';
import { PagedKVCache } from '../src/cache/index.js';
import { edited, unequalLayersFile } from './support/edited-snapshot.js';
import { refusal } from './support/refusal.js';
import { row } from './support/token-row.js';
import { verificationFailure } from './testing/verification-failure.js';

// Behaviours a coverage run of the suite (@vitest/coverage-v8 over src/) found no test executed:
// documented refusals, fallbacks and report paths, each checked against what the code and the
// docs promise (docs/errors.md above all), not merely run.

describe('option and argument refusals no test reached', () => {
  it.each([
    ["ropePositions that is neither 'absolute' nor 'cache'", () => createAttention({ dim: 2, positions: 'rope', ropePositions: 'rank' as 'cache' }), 'ropePositions', 'INVALID_OPTION', `option ropePositions must be 'absolute' or 'cache', got "rank" (a string)`],
    ['ropePositions without RoPE', () => createAttention({ dim: 2, ropePositions: 'cache' }), 'ropePositions', 'INVALID_OPTION', "option ropePositions only applies with positions: 'rope'"],
    ['withWeights that is not a boolean', () => createAttention({ dim: 2, withWeights: 1 as unknown as boolean }), 'withWeights', 'INVALID_OPTION', 'option withWeights must be a boolean, got 1'],
    ['weights that are not an object', () => createAttention({ dim: 2, weights: 5 as never }), 'weights', 'INVALID_OPTION', 'option weights must be an object { wq, wk, wv, wo?, bq?, bk?, bv?, bo? }'],
    ['a weight that is not an array', () => createAttention({ dim: 2, weights: { wq: 5 as never, wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } }), 'weights.wq', 'INVALID_OPTION', 'option weights.wq must be an array of 2×2 = 4 numbers (row-major)'],
    ['a stack of an empty list of layers', () => createAttentionStack({ layers: [] }), 'layers', 'INVALID_OPTION', 'option layers must hold at least one layer'],
    ['cross-attention options that are not an object', () => createCrossAttention(null as never), 'options', 'INVALID_OPTION', 'option options must be an object'],
    ['pushMany of something not an array', () => createAttention({ dim: 2 }).pushMany('ab' as never), 'xs', 'INVALID_ARGUMENT', 'pushMany: expected an array of vectors, got "ab" (a string)'],
    ['snapshot options that are not an object', () => createAttention({ dim: 2 }).snapshot(null as never), 'options', 'INVALID_ARGUMENT', 'snapshot: options must be an object { weights?, metadata? }'],
    ['snapshot weights that are not a boolean', () => createAttention({ dim: 2 }).snapshot({ weights: 'yes' as never }), 'weights', 'INVALID_ARGUMENT', 'snapshot: weights must be a boolean, got "yes" (a string)'],
    ['a vector that is a DataView', () => createAttention({ dim: 2 }).push(new DataView(new ArrayBuffer(8)) as never), 'x', 'INVALID_ARGUMENT', 'x at token 0: expected an array of 2 numbers, got a DataView'],
    ['EmbeddingTable words that are not an array', () => EmbeddingTable.fromMatrix('ab' as never, [1, 2], 1), 'words', 'INVALID_ARGUMENT', 'EmbeddingTable: words must be an array of strings'],
    ['EmbeddingTable.fromMap of something not a Map', () => EmbeddingTable.fromMap({} as never), 'entries', 'INVALID_ARGUMENT', 'EmbeddingTable.fromMap: expected a Map of word → vector'],
    ['a generate config that is not an object', () => generate(null as never), 'config', 'INVALID_OPTION', 'generate: config must be an object { options | engine, first, next, maxTokens }'],
  ] as const)('%s', (_, run, field, code, message) => {
    expect(refusal(run)).toMatchObject({ code, details: { field }, message });
  });

  it('a cross-attention refuses attendMany of something not an array, and a refused call leaves its next index alone', () => {
    const cross = createCrossAttention({ dim: 2 });
    cross.setMemory([[1, 0], [0, 1]]);
    expect(refusal(() => cross.attendMany('ab' as never))).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'xs' }, message: 'attendMany: expected an array of vectors, got "ab" (a string)' });
    expect(cross.attend([1, 0]).index).toBe(0);
  });

  it('a refused value is described in a few words whatever its kind (docs/errors.md: the message says the value)', () => {
    const said = (dim: unknown) => refusal(() => createAttention({ dim: dim as number })).message.replace('option dim must be a positive integer, got ', '');
    expect(said(4n)).toBe('4n (a bigint)');
    expect(said(() => 4)).toBe('a function');
    expect(said('x'.repeat(70))).toBe(`"${'x'.repeat(60)}…" (a string of 70 characters)`);
    expect(said([1, 2, 3, 4, 5, 6, 7, 8, 9])).toBe('an array of 9 items');
    expect(said([{}])).toBe('an array of 1 item');
    expect(said(['a', 1n, null])).toBe('["a", 1n, null] (an array)');
    // Short in items, long as text: by its length.
    expect(said(['x'.repeat(30), 'y'.repeat(30)])).toBe('an array of 2 items');
    expect(said(new DataView(new ArrayBuffer(4)))).toBe('a DataView');
    expect(said(new BigInt64Array(2))).toBe('a BigInt64Array of 2 numbers');
    expect(said(Object.create(null))).toBe('an object');
    expect(said(new (class Foo {})())).toBe('a Foo');
  });
});

describe('engine paths no test reached', () => {
  it('pushMany names the token of a projection that overflows, counting from the stream, and caches nothing', () => {
    for (const kernels of ['auto', 'js'] as const) {
      const attn = createAttention({ dim: 2, heads: 1, kernels, weights: { wq: [1e10, 0, 0, 1e10], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } });
      attn.pushMany([[1, 0], [0, 1]]);
      const error = refusal(() => attn.pushMany([[1, 1], [1e30, 1e30], [1, 1]]));
      expect(error).toMatchObject({ code: 'NON_FINITE', details: { field: 'projected query', token: 3 } });
      expect(attn.length).toBe(2);
    }
  });

  it('a second dispose() does nothing: it gives back no share of the weights a fork still holds', () => {
    const weights = { wq: [1, 2, 3, 4], wk: [0.5, 0, 0, 0.5], wv: [1, -1, 2, 0] };
    const attn = createAttention({ dim: 2, weights });
    attn.push([1, 0]);
    const fork = attn.fork();
    attn.dispose();
    attn.dispose();
    expect(attn.disposed).toBe(true);
    expect(Array.from(fork.options.weights!.wq!)).toEqual(weights.wq);
    const twin = createAttention({ dim: 2, weights });
    twin.push([1, 0]);
    expect(fork.push([0.3, -0.7])[0]!.output).toEqual(twin.push([0.3, -0.7])[0]!.output);
  });

  it('a cache listener that throws does not break the push: its exception is rethrown on a microtask, and the other listeners hear the event', () => {
    const queued: (() => void)[] = [];
    const spy = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((callback) => {
      queued.push(callback);
    });
    try {
      const attn = createAttention({ dim: 2 });
      const boom = new Error('listener failed');
      const heard: CacheEvent['type'][] = [];
      attn.addCacheListener(() => {
        throw boom;
      });
      attn.addCacheListener((event) => heard.push(event.type));
      const [step] = attn.push([1, 2]);
      expect(Array.from(step!.output)).toEqual(Array.from(batchAttention([[1, 2]], { dim: 2 })[0]!.output));
      expect(heard).toEqual(['append']);
      const rethrows = queued.filter((callback) => {
        try {
          callback();
          return false;
        } catch (e) {
          return e === boom;
        }
      });
      expect(rethrows).toHaveLength(1);
    } finally {
      spy.mockRestore();
    }
  });

  it("pushEach lets an exception from the caller's input (a getter) through as it is, and changes no engine", () => {
    const root = createAttention({ dim: 2 });
    root.push([1, 0]);
    const engines = [root, root.fork()];
    const boom = new Error('getter failed');
    const hostile = { length: 2, get 0(): number { throw boom; }, 1: 0 };
    let thrown: unknown;
    try {
      pushEach(engines, [[0, 1], hostile as unknown as number[]]);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBe(boom);
    expect(engines.map((e) => e.length)).toEqual([1, 1]);
    // Nothing is left half-read: the same call goes through with a plain input.
    expect(pushEach(engines, [[0, 1], [0, 1]]).map((steps) => steps[0]!.index)).toEqual([1, 1]);
  });

  it('a cross-attention refuses a projection that overflows in setMemory (keeping its memory) and in attendMany (keeping its count), naming the row', () => {
    const identity = [1, 0, 0, 1];
    const big = [1e10, 0, 0, 1e10];
    const keys = createCrossAttention({ dim: 2, weights: { wq: identity, wk: big, wv: identity } });
    keys.setMemory([[1e-12, 0]]);
    expect(refusal(() => keys.setMemory([[1, 1], [1e30, 1]]))).toMatchObject({ code: 'NON_FINITE', details: { field: 'projected key', token: 1 } });
    expect(keys.stats().tokens).toBe(1);

    const queries = createCrossAttention({ dim: 2, weights: { wq: big, wk: identity, wv: identity } });
    queries.setMemory([[1, 0], [0, 1]]);
    queries.attend([1e-12, 0]);
    expect(refusal(() => queries.attendMany([[1e-12, 1e-12], [1e30, 1]]))).toMatchObject({ code: 'NON_FINITE', details: { field: 'projected query', token: 2 } });
    expect(queries.attend([0, 1e-12]).index).toBe(1);
  });

  it("values whose float32 block sums overflow give the finite mean with wo too (the step's head outputs redone in TypeScript)", () => {
    // As refusals.test.ts's case without wo: there the fallback writes the output, here the head outputs wo projects.
    const identity = (s: number) => Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? s : 0));
    const options = { dim: 4, precision: 'float32' as const, weights: { wq: identity(0), wk: identity(0), wv: identity(1e37), wo: identity(1e-30) } };
    const xs = Array.from({ length: 100 }, () => [1, 1, 1, 1]);
    const expected = batchAttention(xs, options).map((step) => Array.from(step.output));
    const attn = createAttention(options);
    expect(attn.options.kernels).toBe('wasm');
    const pushed = xs.map((x) => Array.from(attn.push(x)[0]!.output));
    expect(createAttention(options).pushMany(xs).map((step) => Array.from(step.output))).toEqual(pushed);
    pushed.forEach((r, t) => r.forEach((v, c) => expect(Math.abs(v - expected[t]![c]!) / 1e7, `token ${t}`).toBeLessThan(1e-6)));
  });

  it('a restored windowed stream releases several blocks in its first release, as the stream it was saved from does', () => {
    const options = { dim: 2, window: 4, blockSize: 2 };
    const original = createAttention(options);
    for (let t = 0; t < 20; t++) original.push(row(t, 2));
    const restored = restoreAttention(original.snapshot());
    const events: CacheEvent[][] = [[], []];
    original.addCacheListener((e) => events[0]!.push(e));
    restored.addCacheListener((e) => events[1]!.push(e));
    const more = Array.from({ length: 9 }, (_, t) => row(100 + t, 2));
    const [a, b] = [original.pushMany(more), restored.pushMany(more)];
    expect(b).toEqual(a);
    expect(events[1]).toEqual(events[0]);
    expect(events[0]!.some((e) => e.type === 'evict' && e.blocks >= 2)).toBe(true);
    expect(restored.stats()).toEqual(original.stats());
  });
});

describe('snapshots: restore checks and paths no test reached', () => {
  const weights = { wq: [1, 2, 3, 4], wk: [0.5, 0, 0, 0.5], wv: [1, -1, 2, 0] };

  function float32File(): Uint8Array {
    const attn = createAttention({ dim: 2, weights });
    for (let t = 0; t < 3; t++) attn.push(row(t, 2));
    return attn.snapshot();
  }

  function int8File(): Uint8Array {
    const attn = createAttention({ dim: 2, blockSize: 2, cacheDtype: 'int8' });
    for (let t = 0; t < 5; t++) attn.push(row(t, 2));
    return attn.snapshot();
  }

  const cases: [string, () => Uint8Array, (t: Map<string, TensorInput>) => void, string][] = [
    ['float32 weights stored as F64', float32File, (t) => {
      const w = t.get('weights.wq')!;
      t.set('weights.wq', { dtype: 'F64', shape: w.shape, data: Float64Array.from(w.data) });
    }, 'tensor weights.wq is F64, expected F32'],
    ['no positions', float32File, (t) => void t.delete('positions'), 'tensor positions is missing'],
    ['positions as F32', float32File, (t) => void t.set('positions', { dtype: 'F32', shape: [3], data: Float32Array.of(0, 1, 2) }), 'positions must be I32 of shape [T]'],
    ['queries without look-ahead', float32File, (t) => void t.set('queries', { dtype: 'F32', shape: [3, 2], data: new Float32Array(6) }), 'queries are stored but the options have no look-ahead'],
    ['no key_blocks in an int8 file', int8File, (t) => void t.delete('key_blocks'), 'tensor key_blocks is missing'],
    ['key_blocks as F32', int8File, (t) => void t.set('key_blocks', { dtype: 'F32', shape: [2], data: Float32Array.of(0, 1) }), 'tensor key_blocks must be I32 of shape [n]'],
    ['key_blocks out of order', int8File, (t) => void t.set('key_blocks', { dtype: 'I32', shape: [2], data: Int32Array.of(1, 0) }), 'key_blocks must ascend and name held blocks, got 0 at 1'],
    ['no keys_int8', int8File, (t) => void t.delete('keys_int8'), 'tensor keys_int8 is missing'],
    ['keys_int8 as F32', int8File, (t) => {
      const k = t.get('keys_int8')!;
      t.set('keys_int8', { dtype: 'F32', shape: k.shape, data: Float32Array.from(k.data) });
    }, 'tensor keys_int8 is F32, expected I8'],
    ['a negative key scale', int8File, (t) => {
      const s = t.get('key_scales')!;
      const data = Float32Array.from(s.data);
      data[0] = -1;
      t.set('key_scales', { dtype: 'F32', shape: s.shape, data });
    }, 'tensor key_scales holds an invalid scale at element 0: -1'],
  ];
  it.each(cases)('refuses a file with %s (CORRUPT_SNAPSHOT)', (_, file, edit, message) => {
    const error = refusal(() => restoreAttention(edited(file(), edit)));
    expect(error.code).toBe('CORRUPT_SNAPSHOT');
    expect(error.details.field).toBe('snapshot');
    expect(error.message).toBe(`snapshot: ${message}`);
  });

  it('a stack file whose layers disagree on their length is refused (CORRUPT_SNAPSHOT, field layers)', () => {
    const error = refusal(() => restoreAttentionStack(unequalLayersFile()));
    expect(error).toMatchObject({ code: 'CORRUPT_SNAPSHOT', details: { field: 'layers' }, message: 'snapshot: layers disagree on their length (2, 3)' });
  });

  it('a seed-mode snapshot restores onto a seed-mode model engine and goes on as the engine it was saved from', () => {
    const options = { dim: 2, heads: 2 };
    const attn = createAttention(options);
    for (let t = 0; t < 4; t++) attn.push(row(t, 2));
    const model = createAttention(options);
    const back = restoreAttention(attn.snapshot(), model);
    expect(back.length).toBe(4);
    expect(back.push(row(9, 2))).toEqual(attn.push(row(9, 2)));
  });

  it('a file whose stored options are invalid is refused as corrupt when restored onto a model engine too', () => {
    const attn = createAttention({ dim: 2 });
    attn.push([1, 2]);
    const bytes = edited(attn.snapshot(), (_, metadata) => {
      metadata['options'] = JSON.stringify({ ...JSON.parse(metadata['options']!), heads: 3 });
    });
    for (const model of [undefined, createAttention({ dim: 2 })]) {
      const error = refusal(() => restoreAttention(bytes, model));
      expect(error).toMatchObject({ code: 'CORRUPT_SNAPSHOT', details: { field: 'snapshot' } });
      expect(error.message).toMatch(/^snapshot: stored options are invalid: option \w+ must /);
    }
  });

  it('a file saved without its weights is refused onto a seed-mode model, and with weights that do not fit its options (INVALID_OPTION, field weights)', () => {
    const attn = createAttention({ dim: 2, heads: 1, scale: 0.5, weights: { wq: [1, 0, 0, 1], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } });
    attn.push([1, 2]);
    const bytes = attn.snapshot({ weights: false });
    const seedModel = createAttention({ dim: 2, heads: 1, scale: 0.5 });
    expect(refusal(() => restoreAttention(bytes, seedModel))).toMatchObject({
      code: 'INVALID_OPTION',
      details: { field: 'weights' },
      message: 'snapshot was saved without its weights, and the model has none (seed mode)',
    });
    const wide = Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? 1 : 0));
    const error = refusal(() => restoreAttention(bytes, { dim: 4, heads: 1, scale: 0.5, weights: { wq: wide, wk: wide, wv: wide } }));
    expect(error).toMatchObject({ code: 'INVALID_OPTION', details: { field: 'weights' } });
    expect(error.message).toContain('snapshot: the weights given do not fit its stored options');
  });

  it('a file saved without its weights, restored without a model or weights, says how to restore it: onto the model, or with its options (a stack: { layers })', () => {
    const options = { dim: 2, heads: 1, weights: { wq: [1, 0, 0, 1], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } };
    const attn = createAttention(options);
    attn.push([1, 2]);
    const engineError = refusal(() => restoreAttention(attn.snapshot({ weights: false })));
    expect(engineError).toMatchObject({ code: 'INVALID_OPTION', details: { field: 'weights' } });
    expect(engineError.message).toBe(
      'snapshot was saved without its weights (snapshot({ weights: false })): restore it onto the model it was saved from (the engine or cross-attention as the second argument), or with its options, weights included',
    );
    const stack = createAttentionStack({ layers: [options, options] });
    stack.layer(1).push(stack.layer(0).push([1, 2])[0]!.output);
    const stackError = refusal(() => restoreAttentionStack(stack.snapshot({ weights: false })));
    expect(stackError).toMatchObject({ code: 'INVALID_OPTION', details: { field: 'weights' } });
    expect(stackError.message).toBe(
      "snapshot (layers.0) was saved without its weights (snapshot({ weights: false })): restore it onto the model it was saved from (restoreAttentionStack(bytes, stack)), or with { layers }, each layer's options, weights included",
    );
  });

  it('names a weight the options give and the file was saved without (a seed-mode file, a file without wo)', () => {
    const seed = createAttention({ dim: 2 });
    seed.push([1, 2]);
    expect(refusal(() => restoreAttention(seed.snapshot(), { dim: 2, weights: { wq: [1, 0, 0, 1], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } }))).toMatchObject({
      code: 'INVALID_OPTION',
      details: { field: 'weights' },
      message: 'options give weights but the snapshot was taken in seed mode, without',
    });
    const withoutWo = createAttention({ dim: 2, weights });
    withoutWo.push([1, 2]);
    expect(refusal(() => restoreAttention(withoutWo.snapshot(), { dim: 2, weights: { ...weights, wo: [1, 0, 0, 1] } }))).toMatchObject({
      code: 'INVALID_OPTION',
      details: { field: 'weights.wo' },
      message: 'option weights.wo is given but the snapshot was taken without it',
    });
  });

  it('counts metadata of characters past the BMP as the 4 bytes UTF-8 gives them', () => {
    const attn = createAttention({ dim: 2 });
    const limit = 2 ** 20;
    const utf8 = (value: string) => new TextEncoder().encode(JSON.stringify({ 'user.k': value })).length;
    // 200,000 emoji are 800,000 bytes of UTF-8 (1,200,000 if each half of a pair were counted as 3).
    const fits = '😀'.repeat(200_000);
    expect(utf8(fits)).toBeLessThan(limit);
    expect(snapshotMetadataOf(attn.snapshot({ metadata: { k: fits } }))['user.k']).toBe(fits);
    const over = '😀'.repeat(270_000);
    expect(refusal(() => attn.snapshot({ metadata: { k: over } }))).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'metadata', expected: limit, actual: utf8(over) } });
  });
});

function snapshotMetadataOf(bytes: Uint8Array): Record<string, string> {
  return decodeSafetensors(bytes).metadata;
}

describe('containers: header checks no test reached', () => {
  /** A safetensors file of `header` (as JSON) and `data`. */
  function file(header: unknown, data = new Uint8Array(0)): Uint8Array {
    const json = new TextEncoder().encode(JSON.stringify(header));
    const bytes = new Uint8Array(8 + json.length + data.length);
    new DataView(bytes.buffer).setUint32(0, json.length, true);
    bytes.set(json, 8);
    bytes.set(data, 8 + json.length);
    return bytes;
  }

  it.each([
    ['a tensor entry that is not an object', { a: 5 }, 'tensor "a" is not an object'],
    ['__metadata__ that is not an object', { __metadata__: 'x' }, '__metadata__ is not an object'],
    ['a __proto__ key in __metadata__', JSON.parse('{"__metadata__": {"__proto__": "x"}}') as unknown, '__metadata__ key "__proto__" is not allowed'],
    ['a metadata value that is not a string', { __metadata__: { version: 1 } }, '__metadata__ value "version" is not a string'],
  ])('readSafetensors refuses %s (CORRUPT_SNAPSHOT, field bytes)', (_, header, message) => {
    expect(refusal(() => readSafetensors(file(header)))).toMatchObject({ code: 'CORRUPT_SNAPSHOT', details: { field: 'bytes' }, message: `safetensors file: ${message}` });
  });

  it('read() of a name that is not a string is INVALID_ARGUMENT naming it', () => {
    const f = readSafetensors(file({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)));
    expect(Array.from(f.read('a'))).toEqual([0]);
    expect(refusal(() => f.read(5 as never))).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'name' }, message: 'readSafetensors: the file holds no tensor 5' });
  });

  it('decodeEmbeddings refuses a dim of 0 and an empty word', () => {
    const header = (count: number, dim: number, words: string) => {
      const text = new TextEncoder().encode(words);
      const bytes = new Uint8Array(HEADER_BYTES + text.length + 2 * count * dim);
      bytes.set(Array.from(MAGIC, (c) => c.charCodeAt(0)));
      const view = new DataView(bytes.buffer);
      view.setUint16(4, FORMAT_VERSION, true);
      bytes[6] = 1;
      view.setUint32(8, count, true);
      view.setUint32(12, dim, true);
      view.setUint32(16, text.length, true);
      bytes.set(text, HEADER_BYTES);
      return bytes;
    };
    expect(decodeEmbeddings(header(2, 1, 'a\nb')).words).toEqual(['a', 'b']);
    expect(refusal(() => decodeEmbeddings(header(1, 0, 'a')))).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'embedding-format: dim is 0' });
    expect(refusal(() => decodeEmbeddings(header(2, 1, 'a\n')))).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'embedding-format: word 1 is empty' });
  });
});

describe('the testing kit: mismatches and reports no test reached', () => {
  /** The engine, each step of its pushes and flushes passed through `change`. */
  const changing = (change: (step: AttentionStep) => unknown): AttentionFactory<IncrementalAttention> => (options) => {
    const attn = createAttention(options);
    return {
      push: (x) => attn.push(x).map(change) as AttentionStep[],
      flush: () => attn.flush().map(change) as AttentionStep[],
    };
  };

  const checkWith = (factory: AttentionFactory<IncrementalAttention>, options: Parameters<typeof createAttention>[0]) =>
    verificationFailure(() => checkIncremental(factory, { optionsArbitrary: fc.constant(options), numRuns: 20, seed: 42 }));

  it.each([
    ['a step without an output', { dim: 2 }, (s: AttentionStep) => ({ index: s.index }), 'output', 'returned a step for token 0 without an output array'],
    ['an output of the wrong length', { dim: 2 }, (s: AttentionStep) => ({ ...s, output: s.output.slice(1) }), 'output', 'the output of token 0 has 1 numbers, expected 2'],
    ['weights without positions', { dim: 2, withWeights: true }, (s: AttentionStep) => ({ index: s.index, output: s.output, weights: s.weights }), 'weights', 'the step of token 0 carries no positions'],
    ['positions without weights', { dim: 2, withWeights: true }, (s: AttentionStep) => ({ index: s.index, output: s.output, positions: s.positions }), 'weights', 'the step of token 0 carries no weights'],
    ['weights for too few heads', { dim: 2, heads: 2, withWeights: true }, (s: AttentionStep) => ({ ...s, weights: s.weights!.slice(1) }), 'weights', 'token 0 has weights for 1 heads, expected 2'],
    ['a head with too few weights', { dim: 2, withWeights: true }, (s: AttentionStep) => ({ ...s, weights: [s.weights![0]!.slice(1)] }), 'weights', 'head 0 of token 0 has 0 weights, expected 1'],
    ["weights that sum to 1 beside a sink logit", { dim: 2, sinkLogits: [0], withWeights: true }, (s: AttentionStep) => {
      const w = s.weights![0]!;
      const sum = Array.from(w).reduce((a, b) => a + b, 0);
      return { ...s, weights: [Array.from(w, (v) => v / sum)] };
    }, 'weights', "(1 less the sink logit's weight)"],
    ['weights swapped between positions (their sum right)', { dim: 2, withWeights: true }, (s: AttentionStep) => ({ ...s, weights: [s.weights![0]!.slice().reverse()] }), 'weights', 'differs from the expected one by more than allowed'],
  ] as const)('checkIncremental reports %s', (_, options, change, kind, description) => {
    const error = checkWith(changing(change), options);
    expect(error.mismatch.kind).toBe(kind);
    expect(error.mismatch.description).toContain(description);
  });

  it('checkIncremental reports a push that returns no array as an emission, and a thrown non-Error by its text', () => {
    const none = checkWith(() => ({ push: () => undefined as never, flush: () => [] }), { dim: 2 });
    expect(none.mismatch).toMatchObject({ kind: 'emission', call: 'push(x0)' });
    expect(none.mismatch.description).toContain('returned undefined, not an array of steps; expected the steps of tokens [0]');
    const thrown = checkWith(() => ({
      push: () => {
        throw 'boom';
      },
      flush: () => [],
    }), { dim: 2 });
    expect(thrown.mismatch).toMatchObject({ kind: 'threw', call: 'push(x0)', description: 'push(x0) threw boom' });
  });

  it("a step whose getter throws fails the check as one that threw, the error's name and message kept", () => {
    const error = checkWith(changing((s) => ({ index: s.index, get output(): never { throw new RangeError('no output here'); } })), { dim: 2 });
    expect(error.mismatch.kind).toBe('threw');
    expect(error.mismatch.description).toContain('RangeError: no output here');
  });

  it("a counterexample's options show each bias and wo, row by row", () => {
    // bk given as undefined is no bias: resolveOptions and the report both leave it out.
    const options = { dim: 2, weights: { wq: [1, 0, 0, 1], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1], wo: [0.5, 0, 0, 2], bq: [0.25, 0], bk: undefined, bo: [1, -1] } };
    const error = checkWith(changing((s) => ({ ...s, output: s.output.map((v) => v + 1) })), options);
    expect(error.message).not.toContain('bk (');
    expect(error.message).toContain('  bq (2) = [0.25, 0]');
    expect(error.message).toContain('  bo (2) = [1, -1]');
    expect(error.message).toContain('  wo (2×2) = [[0.5, 0], [0, 2]]');
  });

  /** The engine as a CachedAttention whose forks are made by `forked` (the engine, wrapped again). */
  function cached(attn: Attention, forked: (engine: Attention) => CachedAttention<Uint8Array> = (e) => cached(e)): CachedAttention<Uint8Array> {
    return {
      get length() {
        return attn.length;
      },
      push: (x) => attn.push(x),
      flush: () => attn.flush(),
      fork: () => forked(attn.fork()),
      truncate: (n) => attn.truncate(n),
      dispose: () => attn.dispose(),
    };
  }

  const lawsWith = (factory: AttentionFactory<CachedAttention<Uint8Array>>, restore?: (s: Uint8Array, o: Parameters<typeof createAttention>[0]) => CachedAttention<Uint8Array>) =>
    verificationFailure(() => checkCacheLaws(factory, { optionsArbitrary: fc.constant({ dim: 2 }), numRuns: 100, seed: 42, ...(restore === undefined ? {} : { restore }) }));

  it('checkCacheLaws reports an engine without snapshot() when restore is given', () => {
    const error = lawsWith((o) => cached(createAttention(o)), (s, o) => cached(restoreAttention(s, o)));
    expect(error.mismatch.kind).toBe('threw');
    expect(error.mismatch.description).toContain('TypeError: restore was given but the engine has no snapshot()');
  });

  it("checkCacheLaws reports a fork whose push returns no array as an emission, and a fork's outputs unlike a fresh engine's", () => {
    const silent = (attn: Attention): CachedAttention<Uint8Array> => ({ ...cached(attn, silent), push: () => undefined as never, get length() { return attn.length; } });
    const none = lawsWith((o) => cached(createAttention(o), silent));
    expect(none.mismatch.kind).toBe('emission');
    expect(none.mismatch.description).toMatch(/^returned undefined, not an array of steps; a fresh engine fed the same history returns the steps of tokens \[\d+\]$/);

    const scaled = (attn: Attention): CachedAttention<Uint8Array> => ({
      ...cached(attn, scaled),
      get length() {
        return attn.length;
      },
      push: (x) => attn.push(x).map((s) => ({ ...s, output: s.output.map((v) => 1.5 * v + 1) })),
    });
    const off = lawsWith((o) => cached(createAttention(o), scaled));
    expect(off.mismatch.kind).toBe('output');
    expect(off.mismatch.description).toContain('(expected: what a fresh engine fed the same history returns)');
  });

  it('checkCacheLaws takes a windowed engine\'s EVICTED refusal of a truncate as lawful', () => {
    let refused = 0;
    const counting = (attn: Attention): CachedAttention<Uint8Array> => ({
      ...cached(attn, counting),
      get length() {
        return attn.length;
      },
      truncate: (n) => {
        try {
          attn.truncate(n);
        } catch (e) {
          refused++;
          throw e;
        }
      },
    });
    checkCacheLaws((o) => counting(createAttention(o)), { optionsArbitrary: fc.constant({ dim: 2, window: 2, blockSize: 1 }), numRuns: 100, seed: 1 });
    expect(refused).toBeGreaterThan(0);
  });

  // Found by the coverage run: checkCacheLaws read the fresh replay's pushes unchecked, so this
  // failed as "the check itself threw TypeError: Cannot read properties of undefined (reading
  // 'map')", the calls listed as drawn, not as made.
  it('checkCacheLaws reports an engine whose push returns no array as an emission mismatch, as checkIncremental does', () => {
    const none = (attn: Attention): CachedAttention<Uint8Array> => ({ ...cached(attn, none), push: () => undefined as never, get length() { return attn.length; } });
    const error = lawsWith((o) => none(createAttention(o)));
    expect(error.mismatch).toMatchObject({
      kind: 'emission',
      call: 'e0.push([0, 0])',
      description: 'returned undefined; a fresh engine fed the same history returned undefined, not an array of steps',
    });
    expect(error.counterexample.operations).toHaveLength(1);
  });

  it('attentionOptionsArbitrary keeps an odd maxHeadDim under RoPE: the even headDim below it, never above', () => {
    fc.assert(
      fc.property(attentionOptionsArbitrary({ maxHeadDim: 3, positions: ['rope'] }), (options) => {
        const o = resolveOptions(options);
        expect(o.headDim).toBeLessThanOrEqual(3);
        expect(o.ropeDim % 2).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});

describe('attnstream (the command), in-process: paths no test reached', () => {
  const temp = mkdtempSync(join(tmpdir(), 'attnstream-gaps-'));
  afterAll(() => rmSync(temp, { recursive: true, force: true }));
  const ANSI = '\x1b[';

  async function run(argv: string[], { tty = false, stdinTty = false, env = {} as Record<string, string> | null, input = '' } = {}) {
    let out = '';
    let err = '';
    const stdin = Object.assign(Readable.from([input]), { isTTY: stdinTty });
    const io: CliIo = {
      stdin,
      stdout: { write: (t: string) => (out += t), isTTY: tty },
      stderr: { write: (t: string) => (err += t) },
      // null: no env at all (it is optional in CliIo).
      ...(env === null ? {} : { env }),
    };
    const code = await runCli(argv, io);
    return { code, out, err };
  }

  it('with stdin a terminal and no text it asks for text (exit 2); "-" reads the terminal\'s lines', async () => {
    const none = await run([], { stdinTty: true });
    expect(none).toMatchObject({ code: EXIT.usage, out: '' });
    expect(none.err).toBe('attnstream: no text: pass it as arguments, pipe it into stdin, or give "-" to type lines (see attnstream --help)\n');
    const typed = await run(['-'], { stdinTty: true, input: 'the dog\n' });
    expect(typed.code).toBe(EXIT.ok);
    expect(typed.out.split('\n').filter((l) => /self \d\.\d\d/.test(l)).map((l) => l.split(/\s+/)[0])).toEqual(['the', 'dog']);
  });

  it('colours cells on a terminal unless NO_COLOR is set; --color and --no-color decide whatever stdout is', async () => {
    expect((await run(['the dog'], { tty: true, env: {} })).out).toContain(ANSI);
    expect((await run(['the dog'], { tty: true, env: null })).out).toContain(ANSI);
    expect((await run(['the dog'], { tty: true, env: { NO_COLOR: '1' } })).out).not.toContain(ANSI);
    expect((await run(['--color', 'the dog'], { tty: false })).out).toContain(ANSI);
    expect((await run(['--no-color', 'the dog'], { tty: true, env: {} })).out).not.toContain(ANSI);
    expect(await run(['--windw', '2', 'the dog'], { env: null })).toMatchObject({ code: EXIT.usage, err: 'attnstream: unknown flag --windw (see attnstream --help)\n' });
  });

  it('a stdout that fails with EPIPE at its first write ends the run quietly with exit 0, writing nothing more and no heatmap file', async () => {
    const writes: string[] = [];
    let fail: ((error: NodeJS.ErrnoException) => void) | undefined;
    const path = join(temp, 'never.json');
    // With look-ahead the last rows come together at the end of the text, after the pipe closed.
    const code = await runCli(['--lookahead', '3', '-o', path, 'the dog ran around the park'], {
      stdin: Readable.from(['']),
      stdout: {
        write: (t: string) => {
          writes.push(t);
          fail?.(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
          return true;
        },
        on: (_event: 'error', listener: (error: NodeJS.ErrnoException) => void) => {
          fail = listener;
        },
      },
      stderr: { write: () => expect.unreachable('nothing on stderr') },
      env: {},
    });
    expect(code).toBe(EXIT.ok);
    expect(writes).toHaveLength(1);
    expect(() => readFileSync(path)).toThrow();
  });

  it('overwrites an existing output file; a file name the system refuses is exit 1, "cannot write"', async () => {
    const path = join(temp, 'again.json');
    writeFileSync(path, 'old');
    expect((await run(['-o', path, 'the dog'])).code).toBe(EXIT.ok);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ words: ['the', 'dog'] });
    const long = join(temp, `${'a'.repeat(300)}.json`);
    const refused = await run(['-o', long, 'the dog']);
    expect(refused.code).toBe(EXIT.failure);
    expect(refused.err).toMatch(/^attnstream: cannot write .*: ENAMETOOLONG/);
  });

  it('an SVG of more than 40 words has small cells without numbers, and a title of more than 16 words ends in …', async () => {
    const words = 'the dog ran around the park because it was excited '.repeat(5).trim().split(' ');
    const path = join(temp, 'long.svg');
    expect((await run(['-o', path, words.join(' ')])).code).toBe(EXIT.ok);
    const svg = readFileSync(path, 'utf8');
    expect(svg).toContain(`>${words.slice(0, 16).join(' ')} …</text>`);
    expect(svg).toContain('width="13" height="13"');
    expect(svg).not.toContain('width="29"');
    expect(svg).not.toContain('text-anchor="middle" font-size="10"');
  });

  it("a score the engine refuses (a scale past a double's range) is exit 1 with the error's code on one line", async () => {
    const { code, out, err } = await run(['--precision', 'float64', '--scale', '1e308', 'the dog ran']);
    expect(code).toBe(EXIT.failure);
    expect(out).toBe('');
    expect(err).toBe('attnstream: NON_FINITE: score of token 0, head 0 overflowed: scale·q·k exceeds the range of a double\n');
  });
});

describe('thread pools: the start-up contract', () => {
  it('a worker that fails to start terminates those already started, and the error is the one thrown', async () => {
    const terminated: number[] = [];
    const boom = new Error('no worker for you');
    const spawn = (_: unknown, slot: number) => (slot < 2 ? Promise.resolve({ terminate: () => terminated.push(slot) }) : Promise.reject(boom));
    await expect(startThreadPool(4, spawn)).rejects.toBe(boom);
    expect(terminated.sort()).toEqual([0, 1]);
  });
});

describe('PagedKVCache (a unit): its contract where the engines never ask', () => {
  it('blockAt is null for a released position, and skipTo refuses to move the end back', () => {
    const cache = new PagedKVCache({ kvHeads: 1, headDim: 2, queryWidth: 0, blockSize: 2, Float: Float64Array, int8: false });
    for (let t = 0; t < 6; t++) cache.append(Float64Array.of(t, 1), Float64Array.of(1, t), null);
    expect(cache.releaseBetween(0, 4)).toEqual({ from: 0, to: 4, blocks: 2 });
    expect(cache.blockAt(1)).toBeNull();
    expect(cache.blockAt(4)).not.toBeNull();
    expect(() => cache.skipTo(5)).toThrow(RangeError);
    cache.skipTo(9);
    expect(cache.length).toBe(9);
  });
});

describe('npm start (src/cli/demo.ts) as a process', () => {
  const ROOT = fileURLToPath(new URL('..', import.meta.url));
  const temp = mkdtempSync(join(tmpdir(), 'attnstream-demo-gaps-'));
  afterAll(() => rmSync(temp, { recursive: true, force: true }));
  const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
  const exec = (argv: string[]): Promise<{ code: number; out: string; err: string }> =>
    new Promise((resolve) => {
      execFile(tsx, [join(ROOT, 'src', 'cli', 'demo.ts'), ...argv], { cwd: temp, env: { ...process.env, NO_COLOR: '1' } }, (error, out, err) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, out, err });
      });
    });

  it('runs the demo into --out-dir (exit 0) and refuses another argument with exit 2 on stderr', async () => {
    const [ran, bad] = await Promise.all([exec(['--out-dir', join(temp, 'out')]), exec(['--bogus'])]);
    expect(ran.code).toBe(EXIT.ok);
    expect(ran.err).toBe('');
    expect(ran.out).toContain(`Heatmaps of all four runs: ${join(temp, 'out', 'attention-demo.html')}`);
    expect(ran.out).not.toContain('\x1b[');
    expect(readFileSync(join(temp, 'out', 'attention-demo.html'), 'utf8')).toContain('<section>');
    expect(bad).toMatchObject({ code: EXIT.usage, out: '', err: 'attnstream demo: unknown argument "--bogus"; the demo takes only --out-dir DIR\n' });
  });
});
