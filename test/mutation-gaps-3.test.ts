import { describe, expect, it } from 'vitest';
import {
  alibiSlopes,
  batchAttention,
  createAttention,
  createAttentionStack,
  createCrossAttention,
  MAX_STREAM_LENGTH,
  resolveOptions,
  restoreAttention,
  restoreAttentionStack,
  restoreCrossAttention,
  snapshotMetadata,
} from '../src/index.js';
import { MAX_LAYERS } from '../src/attention/create-attention-stack.js';
import { decodeSafetensors, encodeSafetensors } from '../src/cache/safetensors.js';
import { wasmArena } from '../src/kernels/wasm/wasm-arena.js';
import { decodeEmbeddings } from '../src/rx/index.js';
import { encodeEmbeddings } from '../scripts/encode-embeddings.js';
import type { AttentionOptions } from '../src/index.js';
import { unequalLayersFile } from './support/edited-snapshot.js';
import { refusal } from './support/refusal.js';

// Behaviours a third mutation test of the suite found no test held (each test here fails with its
// mutant applied): option validation (bounds, integers, combinations), inputs at float32's edge,
// batchAttention's overflow checks, snapshots and their restores, the weights' fingerprint and
// decodeEmbeddings. (Made on 30ea5b5; gaps that coverage-gaps.test.ts has held since are left out.)

describe('option validation a mutation test found unheld', () => {
  it('seed mode refuses a headDim that does not make heads·headDim equal dim', () => {
    // Mutant: the seed-mode check of heads·headDim against dim dropped.
    const e = refusal(() => createAttention({ dim: 4, heads: 2, headDim: 3 }));
    expect([e.code, e.details.field]).toEqual(['INVALID_OPTION', 'headDim']);
  });

  it('window: Infinity is taken as no window, as leaving it out is', () => {
    // Mutant: Infinity went to positiveInteger and was refused.
    const unbounded = createAttention({ dim: 2, window: Infinity, precision: 'float64' });
    const plain = createAttention({ dim: 2, precision: 'float64' });
    expect(unbounded.options.window).toBe(Infinity);
    for (const x of [[1, 0], [0, 1], [1, 1]]) expect(unbounded.push(x)[0]!.output).toEqual(plain.push(x)[0]!.output);
  });

  it('blockSize is at most 2^16, and 2^16 itself is taken', () => {
    // Mutant: blockSize's upper bound (MAX_BLOCK_SIZE) dropped.
    expect(resolveOptions({ dim: 2, blockSize: 2 ** 16 }).blockSize).toBe(2 ** 16);
    const e = refusal(() => resolveOptions({ dim: 2, blockSize: 2 ** 16 + 1 }));
    expect([e.code, e.details.field]).toEqual(['INVALID_OPTION', 'blockSize']);
  });

  it("a block's keys may hold exactly 2^27 numbers", () => {
    // Mutant: blockSize·kvHeads·headDim > 2^27 became >= (the documented bound is "at most").
    expect(resolveOptions({ dim: 2 ** 11, blockSize: 2 ** 16 }).blockSize).toBe(2 ** 16);
  });

  it("the bound on a block's queries applies only with look-ahead, which holds them", () => {
    // Mutant: blockSize·heads·headDim ≤ 2^27 checked without look-ahead too.
    const options: AttentionOptions = { dim: 8, heads: 8, kvHeads: 1, headDim: 512, blockSize: 2 ** 16, weights: {} };
    expect(resolveOptions(options).blockSize).toBe(2 ** 16);
    const e = refusal(() => resolveOptions({ ...options, lookahead: 1 }));
    expect([e.code, e.details.field]).toEqual(['INVALID_OPTION', 'blockSize']);
  });

  it('alibiSlopes takes heads up to 2^24, as many as an engine may have, and refuses one more', () => {
    // Mutant: the bound was exclusive. (2^24 slopes are 128 MiB of float64, made in about a second.)
    const slopes = alibiSlopes(2 ** 24);
    expect([slopes.length, slopes[0], slopes[2 ** 24 - 1]]).toEqual([2 ** 24, 2 ** (-8 / 2 ** 24), 2 ** -8]);
    const e = refusal(() => alibiSlopes(2 ** 24 + 1));
    expect([e.code, e.details.field]).toEqual(['INVALID_ARGUMENT', 'heads']);
  });

  it('alibiSlopes names the refused head count in details.actual', () => {
    // Mutant: details held the field alone.
    expect(refusal(() => alibiSlopes(0)).details).toEqual({ field: 'heads', actual: '0' });
    expect(refusal(() => alibiSlopes(2.5)).details).toEqual({ field: 'heads', actual: '2.5' });
  });

  it('sinks, retain and lookahead must be integers', () => {
    // Mutant: nonNegativeInteger took any number ≥ 0.
    for (const [field, options] of [
      ['lookahead', { dim: 2, lookahead: 0.5 }],
      ['sinks', { dim: 2, window: 4, sinks: 1.5 }],
      ['retain', { dim: 2, window: 4, retain: 2.5 }],
    ] as const) {
      const e = refusal(() => createAttention(options));
      expect([e.code, e.details.field]).toEqual(['INVALID_OPTION', field]);
    }
  });
});

describe('inputs and projections a mutation test found unheld', () => {
  // 2¹²⁸ − 2¹⁰³ is the smallest magnitude float32 stores as Infinity; a double 2⁷⁵ below it is
  // stored as float32's largest number.
  const edge = 2 ** 128 - 2 ** 103;
  const below = edge - 2 ** 75;
  const small = { wq: [1e-38, 0, 0, 1e-38], wk: [1e-38, 0, 0, 1e-38], wv: [1e-38, 0, 0, 1e-38] };

  it("a float32 engine refuses an input at exactly the edge of float32's range, and takes the double below it", () => {
    // Mutants: the refusal's loop, or withinFloat32, tested > instead of >=; the edge constant was 2¹²⁸.
    expect(Math.fround(edge)).toBe(Infinity);
    expect(Math.fround(below)).toBe(3.4028234663852886e38);
    for (const kernels of ['auto', 'js'] as const) {
      const attn = createAttention({ dim: 2, weights: small, kernels });
      const e = refusal(() => attn.push([edge, 0]));
      expect([e.code, e.details]).toEqual(['NON_FINITE', { field: 'x', token: 0, element: 0, actual: String(edge) }]);
      expect(attn.length).toBe(0);
      expect(Array.from(attn.push([below, 0])[0]!.output).every(Number.isFinite)).toBe(true);
    }
    const e = refusal(() => batchAttention([[0, 1], [0, edge]], { dim: 2, weights: small }));
    expect([e.code, e.details.field, e.details.token, e.details.element]).toEqual(['NON_FINITE', 'x', 1, 1]);
  });

  it('a prompt whose key or value alone overflows in its projection is refused naming that projection', () => {
    // Mutant: the one check over every projected array looked at the queries alone.
    for (const [weights, field] of [
      [{ wq: [1], wk: [1e38], wv: [1] }, 'projected key'],
      [{ wq: [1], wk: [1], wv: [1e38] }, 'projected value'],
    ] as const) {
      for (const kernels of ['auto', 'js'] as const) {
        const attn = createAttention({ dim: 1, weights, kernels });
        const e = refusal(() => attn.pushMany([[1], [10]]));
        expect([e.code, e.details.field, e.details.token]).toEqual(['NON_FINITE', field, 1]);
        expect(attn.length).toBe(0);
        const cross = createCrossAttention({ dim: 1, weights, kernels });
        const m = refusal(() => cross.setMemory([[1], [10]]));
        expect([m.code, m.details.field, m.details.token]).toEqual(['NON_FINITE', field, 1]);
      }
    }
  });

  it('batchAttention refuses a projected value, or an output, that overflows, as a push does', () => {
    // Mutants: batchAttention's overflow checks of the projected values, and of wo's output, dropped
    // (it returned Infinity where the engine refuses).
    for (const [weights, field] of [
      [{ wq: [1], wk: [1], wv: [1e38] }, 'projected value'],
      [{ wq: [1], wk: [1], wv: [1e37], wo: [10] }, 'output'],
    ] as const) {
      const e = refusal(() => batchAttention([[1], [10]], { dim: 1, weights }));
      expect([e.code, e.details.field, e.details.token]).toEqual(['NON_FINITE', field, 1]);
      const pushed = refusal(() => createAttention({ dim: 1, weights }).pushMany([[1], [10]]));
      expect([pushed.code, pushed.details.field, pushed.details.token]).toEqual(['NON_FINITE', field, 1]);
    }
  });

  it('a fork or a restored engine on the TypeScript kernels takes its first step over hundreds of keys', () => {
    // Mutant: the scores' scratch, grown from 64 straight to a step's count past 128, was one short
    // (a stream grows it a key at a time; a fork and a restore start afresh with every key).
    const engine = createAttention({ dim: 2, kernels: 'js', precision: 'float64' });
    engine.pushMany(Array.from({ length: 200 }, (_, t) => [Math.sin(t), Math.cos(t)]));
    const fork = engine.fork();
    const restored = restoreAttention(engine.snapshot(), { kernels: 'js' });
    const next = [0.5, -0.25];
    const expected = engine.push(next)[0]!.output;
    expect(fork.push(next)[0]!.output).toEqual(expected);
    expect(restored.push(next)[0]!.output).toEqual(expected);
  });

  it('a stream holds 2^31 tokens, so that every position is an Int32', () => {
    // Mutant: MAX_STREAM_LENGTH one less (every test counts from the constant itself).
    expect(MAX_STREAM_LENGTH).toBe(2 ** 31);
  });
});

describe('snapshots a mutation test found unheld', () => {
  it("a refused stack restore gives the caches it had made back to the kernels' memory", () => {
    // Mutant: the layers' caches made before the refusal were not disposed (their blocks stayed
    // allocated in the arena for good).
    const arena = wasmArena()!;
    const file = unequalLayersFile();
    const before = arena.releases;
    expect(() => restoreAttentionStack(file)).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT' }));
    expect(arena.releases).toBeGreaterThan(before);
  });

  /** A cross-attention's file whose stored options have look-ahead (with the queries it would hold). */
  function lookaheadCrossFile(): Uint8Array {
    const cross = createCrossAttention({ dim: 2 });
    cross.setMemory([[1, 0], [0, 1]]);
    const { tensors, metadata } = decodeSafetensors(cross.snapshot());
    tensors.set('queries', { dtype: 'F32', shape: [2, 2], data: new Float32Array(4) });
    const options = JSON.stringify({ ...(JSON.parse(metadata['options']!) as object), lookahead: 1 });
    return encodeSafetensors(Object.fromEntries(tensors), { ...metadata, options });
  }

  it("a cross-attention's file whose options have look-ahead is refused, as one with a window or positions is", () => {
    // Mutant: the look-ahead dropped from the check of options that place keys in a stream.
    const e = refusal(() => restoreCrossAttention(lookaheadCrossFile()));
    expect([e.code, e.details.field]).toEqual(['CORRUPT_SNAPSHOT', 'snapshot']);
    expect(e.message).toMatch(/look-ahead/);
  });

  it("a refused cross-attention restore gives the cache it had made back to the kernels' memory", () => {
    // Mutant: the cache restored before the options were refused was not disposed.
    const arena = wasmArena()!;
    const file = lookaheadCrossFile();
    const before = arena.releases;
    expect(() => restoreCrossAttention(file)).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT' }));
    expect(arena.releases).toBeGreaterThan(before);
  });

  it('a file with an output bias alone is written at version 3, which a version-2 reader would misread', () => {
    // Mutant: bo dropped from the biases that need version 3.
    const version = (options: AttentionOptions) => decodeSafetensors(createAttention(options).snapshot()).metadata['version'];
    const w = new Array(16).fill(0.5);
    expect(version({ dim: 4, weights: { wq: w, wk: w, wv: w, wo: w } })).toBe('2');
    expect(version({ dim: 4, weights: { wq: w, wk: w, wv: w, wo: w, bo: [1, 2, 3, 4] } })).toBe('3');
  });

  it('restore refuses a position held twice, even where the block count and the window leave it unnoticed', () => {
    // Mutant: positions had only not to descend. Window 2, blocks of 4: after 4 tokens block 0 is
    // held whole and only position 3 is needed, so [0, 0, 2, 3] passes every other check.
    const engine = createAttention({ dim: 2, window: 2, blockSize: 4 });
    engine.pushMany([[1, 0], [0, 1], [1, 1], [2, 1]]);
    const { tensors, metadata } = decodeSafetensors(engine.snapshot());
    expect(Array.from(tensors.get('positions')!.data)).toEqual([0, 1, 2, 3]);
    tensors.set('positions', { dtype: 'I32', shape: [4], data: Int32Array.from([0, 0, 2, 3]) });
    const e = refusal(() => restoreAttention(encodeSafetensors(Object.fromEntries(tensors), metadata)));
    expect([e.code, e.details.field]).toEqual(['CORRUPT_SNAPSHOT', 'snapshot']);
  });

  it("restore refuses length and emitted metadata that are not written as plain digits, though Number() reads them", () => {
    // Mutant: only Number.isSafeInteger(Number(value)) was asked.
    const engine = createAttention({ dim: 2 });
    engine.pushMany([[1, 0], [0, 1]]);
    const { tensors, metadata } = decodeSafetensors(engine.snapshot());
    for (const key of ['length', 'emitted']) {
      for (const value of ['2.0', '+2', ' 2', '0x2', '2e0']) {
        const e = refusal(() => restoreAttention(encodeSafetensors(Object.fromEntries(tensors), { ...metadata, [key]: value })));
        expect([e.code, e.details.field, key, value]).toEqual(['CORRUPT_SNAPSHOT', 'snapshot', key, value]);
      }
    }
  });

  it('a stack of MAX_LAYERS layers saves and restores', () => {
    // Mutant: the restore's bound on the layers metadata was exclusive.
    const stack = createAttentionStack({ layers: MAX_LAYERS, dim: 1, kernels: 'js' });
    for (let i = 0; i < MAX_LAYERS; i++) stack.layer(i).push([1]);
    const restored = restoreAttentionStack(stack.snapshot(), { kernels: 'js' });
    expect([restored.depth, restored.layer(MAX_LAYERS - 1).length]).toEqual([MAX_LAYERS, 1]);
  });

  it("the application's metadata may take exactly 1 MiB as UTF-8 JSON, and not a byte more", () => {
    // Mutant: the bound was exclusive. {"user.text":"…"} is the text and 16 bytes.
    const engine = createAttention({ dim: 2 });
    const text = 'x'.repeat(2 ** 20 - 16);
    expect(snapshotMetadata(engine.snapshot({ metadata: { text } }))['text']).toBe(text);
    const e = refusal(() => engine.snapshot({ metadata: { text: `${text}x` } }));
    expect([e.code, e.details]).toEqual(['INVALID_ARGUMENT', { field: 'metadata', expected: 2 ** 20, actual: 2 ** 20 + 1 }]);
  });

  it("the metadata's size counts two bytes for U+0080–U+07FF and four for a surrogate pair, as UTF-8 has them", () => {
    // Mutant: a two-byte character counted one (and a surrogate pair counted 4 + 3).
    const engine = createAttention({ dim: 2 });
    const e = refusal(() => engine.snapshot({ metadata: { text: 'é'.repeat(2 ** 19) } }));
    expect([e.code, e.details.field, e.details.actual]).toEqual(['INVALID_ARGUMENT', 'metadata', 2 ** 20 + 16]);
    const emoji = '😀'.repeat(200_000);
    expect(snapshotMetadata(engine.snapshot({ metadata: { emoji } }))['emoji']).toBe(emoji);
    expect(refusal(() => engine.snapshot({ metadata: { emoji: '😀'.repeat(2 ** 18) } })).details.actual).toBe(2 ** 20 + 17);
  });

  it("the weights' fingerprint tells a weight's name apart: the same numbers as wo or as bq are other models", () => {
    // Mutant: the names were not mixed into the fingerprint (dim 1: wo and bq are both one number).
    const base = { wq: [1], wk: [1], wv: [1] };
    const session = createAttention({ dim: 1, weights: { ...base, wo: [2] } });
    session.push([1]);
    const e = refusal(() => restoreAttention(session.snapshot({ weights: false }), { dim: 1, weights: { ...base, bq: [2] } }));
    expect([e.code, e.details]).toEqual(['INVALID_OPTION', { field: 'weights' }]);
  });

  it("the weights' fingerprint reads the last entry of a matrix past 1,024 entries", () => {
    // Mutant: the 1,024 samples were the first 1,024 entries, not spread to the last.
    const w = (n: number, k: number) => Array.from({ length: n }, (_, i) => Math.sin(i * k + 1));
    const options: AttentionOptions = { dim: 64, weights: { wq: w(4096, 1), wk: w(4096, 2), wv: w(4096, 3) } };
    const session = createAttention(options);
    session.push(w(64, 4));
    const state = session.snapshot({ weights: false });
    const wq = w(4096, 1);
    wq[4095] = 7;
    const e = refusal(() => restoreAttention(state, { ...options, weights: { ...options.weights!, wq } }));
    expect([e.code, e.details]).toEqual(['INVALID_OPTION', { field: 'weights' }]);
    expect(restoreAttention(state, options).length).toBe(1);
  });

  it("the weights' fingerprint reads the whole of a float64 weight, not its low word alone", () => {
    // Mutant: one 32-bit word of each entry was mixed. 1 and 2 differ only in their high words.
    const options = (first: number): AttentionOptions => ({ dim: 2, precision: 'float64', weights: { wq: [first, 0, 0, 1], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } });
    const session = createAttention(options(1));
    session.push([1, 2]);
    const e = refusal(() => restoreAttention(session.snapshot({ weights: false }), options(2)));
    expect([e.code, e.details]).toEqual(['INVALID_OPTION', { field: 'weights' }]);
  });
});

describe('rx a mutation test found unheld', () => {
  it('decodeEmbeddings refuses encoding code 3, the first code past the two it knows', () => {
    // Mutant: code 3 was read as int8.
    const bytes = encodeEmbeddings({ words: ['a', 'b'], dim: 2, vectors: [1, 0, 0, 1] }, { encoding: 'i8' });
    bytes[6] = 3;
    expect(() => decodeEmbeddings(bytes)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'embedding-format: unknown encoding code 3 (1 = f16, 2 = i8)' }));
  });

  it("decodeEmbeddings keeps a first word that starts with U+FEFF: the word block's bytes are words, not a text with a BOM", () => {
    // Mutant: the word block was decoded with the BOM stripped, so '\uFEFFthe' became 'the' (here a duplicate).
    const bytes = encodeEmbeddings({ words: ['\uFEFFthe', 'the'], dim: 1, vectors: [1, 2] }, { encoding: 'f16' });
    expect(decodeEmbeddings(bytes).words).toEqual(['\uFEFFthe', 'the']);
  });
});
