import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AttentionError, createAttention, createAttentionStack, createCrossAttention, pushEach, restoreAttention, restoreAttentionStack, restoreCrossAttention, snapshotMetadata } from '../src/index.js';
import type { Attention, AttentionOptions, AttentionStep, RunOptions } from '../src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../src/cache/safetensors.js';
import { caseArbitrary, tokensArbitrary } from './support/engine-arbitraries.js';

const continued = (engine: Attention, xs: readonly number[][]): AttentionStep[] => [...xs.flatMap((x) => engine.push(x)), ...engine.flush()];

/** An engine fed `xs`, then rolled back or forked as `history` says: the states snapshots must capture. */
const engineCase = caseArbitrary({ wideHeads: true }, 24).chain(({ options, xs }) =>
  fc
    .record({
      more: tokensArbitrary(options.dim, 0, 10),
      rollback: fc.option(fc.nat(), { nil: undefined }),
      forked: fc.boolean(),
      precision: fc.constantFrom<'float32' | 'float64'>('float32', 'float64'),
      int8: fc.boolean(),
    })
    .map((extra) => ({
      options: { ...options, precision: extra.precision, ...(extra.int8 ? { cacheDtype: 'int8' } : {}) } as AttentionOptions,
      xs,
      ...extra,
    })),
);

function build({ options, xs, rollback, forked }: { options: AttentionOptions; xs: number[][]; rollback?: number; forked: boolean }): Attention {
  let engine = createAttention(options);
  engine.pushMany(xs);
  if (forked) engine = engine.fork();
  if (rollback !== undefined) {
    try {
      engine.truncate(rollback % (xs.length + 1));
    } catch (e) {
      expect((e as AttentionError).code).toBe('EVICTED');
    }
  }
  return engine;
}

describe('snapshot and restore', () => {
  it('a restored engine continues bit for bit like the original (random configs, windows, sinks, look-ahead, int8 caches, forks, rollbacks)', () => {
    fc.assert(
      fc.property(engineCase, (c) => {
        const original = build(c);
        // The kernels are the caller's choice, not the snapshot's: restore on the original's, so
        // the continuation is bit for bit (the WebAssembly and TypeScript kernels round differently).
        const restored = restoreAttention(original.snapshot(), c.options);
        expect(restored.options.kernels).toBe(original.options.kernels);
        expect(restored.length).toBe(original.length);
        expect(continued(restored, c.more)).toEqual(continued(original, c.more));
      }),
      { numRuns: 200 },
    );
  });

  it('the file is safetensors: an 8-byte little-endian header length, a JSON header, raw little-endian data', () => {
    const attn = createAttention({ dim: 4, heads: 2, precision: 'float64', window: 8, sinks: 1 });
    attn.pushMany([[1, 2, 3, 4], [5, 6, 7, 8]]);
    const bytes = attn.snapshot();
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    expect(header.__metadata__).toMatchObject({ format: 'attnstream.attention', version: '2', length: '2', emitted: '2' });
    expect(JSON.parse(header.__metadata__.options)).toMatchObject({ dim: 4, heads: 2, window: 8, sinks: 1, precision: 'float64' });
    // Tensors follow one another: positions (2 × I32) at [0, 8), then keys (2 tokens × 2 heads × 2 × F64).
    expect(header.positions).toEqual({ dtype: 'I32', shape: [2], data_offsets: [0, 8] });
    expect(header.keys).toEqual({ dtype: 'F64', shape: [2, 2, 2], data_offsets: [8, 72] });
    // Seed mode caches x itself: token 1's keys are [5, 6] for kv head 0 and [7, 8] for kv head 1.
    const data = bytes.subarray(8 + headerLength);
    expect(Array.from(new Float64Array(data.slice(8 + 32, 72).buffer))).toEqual([5, 6, 7, 8]);
  });

  it("reads version 1: a RoPE 'cache' file's unrotated keys are rotated on restore, bit for bit as appending them rotates", () => {
    // Written by the build before version 2 (commit cdd0076): 9 tokens through this engine.
    const options = { dim: 8, heads: 2, positions: 'rope', ropePositions: 'cache', window: 4, sinks: 1, blockSize: 2 } as const;
    const token = (i: number) => Array.from({ length: 8 }, (_, c) => Math.sin(1.7 * i + 0.3 * c) + (c % 3) * 0.25);
    const bytes = new Uint8Array(readFileSync(new URL('./fixtures/snapshots/snapshot-v1-rope-cache.safetensors', import.meta.url)));
    expect(decodeSafetensors(bytes).metadata).toMatchObject({ version: '1' });
    const fed = () => {
      const engine = createAttention(options);
      for (let i = 0; i < 9; i++) engine.push(token(i));
      return engine;
    };
    const more = Array.from({ length: 6 }, (_, i) => token(9 + i));
    const expected = continued(fed(), more);
    expect(continued(restoreAttention(bytes), more)).toEqual(expected);
    // Read as version 2, the same keys unrotated make another engine: the rotation is what the test sees.
    const { tensors, metadata } = decodeSafetensors(bytes);
    const relabelled = encodeSafetensors(Object.fromEntries(tensors), { ...metadata, version: '2' });
    expect(continued(restoreAttention(relabelled), more)).not.toEqual(expected);
    // int8 keys quantized unrotated cannot be rotated exactly: refused, not guessed at.
    const int8 = new Uint8Array(readFileSync(new URL('./fixtures/snapshots/snapshot-v1-rope-cache-int8.safetensors', import.meta.url)));
    expect(() => restoreAttention(int8)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_SNAPSHOT', message: expect.stringContaining("RoPE 'cache'") }));
    // An unrotated key that its rotation overflows is refused, as a push refuses it (found by a
    // review: restored, it cached Infinity, refusing every later step).
    const keys = tensors.get('keys')!;
    const huge = Float32Array.from(keys.data);
    huge.fill(3e38, huge.length - 8);
    const overflowing = encodeSafetensors({ ...Object.fromEntries(tensors), keys: { ...keys, data: huge } }, metadata);
    expect(() => restoreAttention(overflowing)).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: expect.stringContaining('overflows when rotated') }));
  });

  it('restores from a Node Buffer (readFileSync gives views into a pooled buffer) as from a plain copy', () => {
    const options: AttentionOptions = { dim: 4, precision: 'float64', window: 40, blockSize: 8 };
    const engine = createAttention(options);
    engine.pushMany(Array.from({ length: 101 }, (_, t) => [t, 1, -t / 3, 0.5]));
    const bytes = engine.snapshot();
    // Past the pool's 4 KiB slabs and inside one: each sits at an odd offset in a larger buffer.
    for (const pooled of [Buffer.from(bytes), Buffer.concat([Buffer.alloc(3), Buffer.from(bytes)]).subarray(3)]) {
      expect(pooled.byteOffset === 0 && pooled.buffer.byteLength === pooled.length).toBe(false);
      const more = [[1, 2, 3, 4], [0, -1, 0, 1]];
      expect(continued(restoreAttention(pooled), more)).toEqual(continued(restoreAttention(new Uint8Array(bytes)), more));
    }
  });

  it('takes withWeights and kernels from the options given (they change what a step carries, not its numbers)', () => {
    const options: AttentionOptions = { dim: 2, precision: 'float64' };
    const engine = createAttention(options);
    engine.pushMany([[1, 0], [0, 1]]);
    const bytes = engine.snapshot();
    const [withWeights] = restoreAttention(bytes, { ...options, withWeights: true, kernels: 'js' }).push([1, 1]);
    const [plain] = restoreAttention(bytes).push([1, 1]);
    expect(Array.from(withWeights!.positions!)).toEqual([0, 1, 2]);
    expect(withWeights!.weights).toHaveLength(1);
    expect(plain!.weights).toBeUndefined();
    expect(withWeights!.output).toEqual(plain!.output);
  });

  it('refuses weights that differ from the snapshot, naming the first differing element', () => {
    const weights = { wq: [1, 0, 0, 1], wk: [1, 0, 0, 1], wv: [0, 1, 1, 0], bq: [0.5, 0] };
    const bytes = createAttention({ dim: 2, weights }).snapshot();
    const refusal = (options: AttentionOptions) => {
      try {
        restoreAttention(bytes, options);
      } catch (e) {
        return { code: (e as AttentionError).code, message: (e as AttentionError).message, field: (e as AttentionError).details.field };
      }
      return null;
    };
    expect(refusal({ dim: 2, weights: { ...weights, wv: [0, 1, 2, 0] } })).toEqual({
      code: 'INVALID_OPTION',
      message: 'option weights.wv differs from the snapshot\'s at element 2: 2 against 1',
      field: 'weights.wv',
    });
    expect(refusal({ dim: 2, weights: { wq: weights.wq, wk: weights.wk, wv: weights.wv } })).toEqual({
      code: 'INVALID_OPTION',
      message: 'option weights.bq is absent but the snapshot was taken with it',
      field: 'weights.bq',
    });
    expect(refusal({ dim: 2 })).toEqual({ code: 'INVALID_OPTION', message: 'options give no weights but the snapshot was taken with weights', field: 'weights' });
    expect(refusal({ dim: 2, weights })).toBeNull();
  });

  it('names the precision, not a weight, when a float32 session is restored with float64 options', () => {
    const weights = { wq: [0.1, 0, 0, 1], wk: [1, 0, 0, 1], wv: [0, 1, 1, 0] };
    const session = createAttention({ dim: 2, weights });
    session.push([1, 2]);
    const model = createAttention({ dim: 2, weights, precision: 'float64' });
    for (const restore of [() => restoreAttention(session.snapshot(), { dim: 2, weights, precision: 'float64' }), () => restoreAttention(session.snapshot(), model)]) {
      expect(restore).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION', message: 'option precision is float64 but the snapshot was taken with float32', details: { field: 'precision' } }),
      );
    }
  });

  it('refuses invalid options of the caller with INVALID_OPTION, not as a corrupt file', () => {
    const bytes = createAttention({ dim: 2 }).snapshot();
    for (const options of [{ dim: 2, kernels: 'js', threads: {} }, { dim: 2, windw: 3 }, { dim: 0 }] as unknown as AttentionOptions[]) {
      expect(() => restoreAttention(bytes, options)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    }
  });

  it('without its weights ({ weights: false }): a version-3 file of the state alone, restored with the options, continuing bit for bit', () => {
    const w = (rows: number, cols: number, k: number) => Array.from({ length: rows * cols }, (_, i) => Math.sin(i * k + 1));
    const options: AttentionOptions = { dim: 8, heads: 2, weights: { wq: w(8, 8, 1), wk: w(8, 8, 2), wv: w(8, 8, 3), wo: w(8, 8, 4), bq: w(1, 8, 5) } };
    const engine = createAttention(options);
    const xs = Array.from({ length: 5 }, (_, t) => w(1, 8, t + 7));
    engine.pushMany(xs);
    const whole = engine.snapshot();
    const state = engine.snapshot({ weights: false });
    const { tensors, metadata } = decodeSafetensors(state);
    expect([...tensors.keys()].filter((name) => name.startsWith('weights.'))).toEqual([]);
    expect(metadata).toMatchObject({ version: '3', weights: 'external' });
    expect(state.length).toBeLessThan(whole.length / 2);
    const more = [w(1, 8, 20), w(1, 8, 21)];
    expect(continued(restoreAttention(state, options), more)).toEqual(continued(restoreAttention(whole), more));
    // Without the weights it cannot be restored, and other weights are not taken for them silently.
    for (const bad of [undefined, { withWeights: true }, { dim: 8, heads: 2 }] as (AttentionOptions | undefined)[]) {
      expect(() => restoreAttention(state, bad)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'weights' } }));
    }
    expect(() => restoreAttention(state, { ...options, heads: 4 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  it('saved without its weights, a file whose stored options are invalid is corrupt, not the fault of the weights given (an engine, a stack, a cross-attention)', () => {
    // From an audit: the file's own blockSize -3 was reported as INVALID_OPTION, "the weights given
    // do not fit its stored options", though the caller gave exactly the engine's options.
    const w = [1, 0, 0, 1];
    const options = { dim: 2, weights: { wq: w, wk: w, wv: w } };
    const withOptions = (bytes: Uint8Array, key: string, edit: (stored: Record<string, unknown>) => void): Uint8Array => {
      const { tensors, metadata } = decodeSafetensors(bytes);
      const stored = JSON.parse(metadata[key]!) as Record<string, unknown>;
      edit(stored);
      return encodeSafetensors(Object.fromEntries(tensors), { ...metadata, [key]: JSON.stringify(stored) }); // checksum recomputed
    };
    const engine = createAttention(options);
    engine.push([1, 2]);
    const stack = createAttentionStack({ layers: 2, ...options });
    const cross = createCrossAttention(options);
    cross.setMemory([[1, 2]]);
    const restores: [string, () => unknown][] = [
      ['engine', () => restoreAttention(withOptions(engine.snapshot({ weights: false }), 'options', (o) => (o.blockSize = -3)), options)],
      ['engine onto its model', () => restoreAttention(withOptions(engine.snapshot({ weights: false }), 'options', (o) => (o.blockSize = -3)), engine)],
      ['stack', () => restoreAttentionStack(withOptions(stack.snapshot({ weights: false }), 'layers.1.options', (o) => (o.blockSize = -3)), { layers: 2, ...options })],
      ['cross-attention', () => restoreCrossAttention(withOptions(cross.snapshot({ weights: false }), 'options', (o) => (o.blockSize = -3)), options)],
    ];
    for (const [what, restore] of restores) {
      expect(restore, what).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', details: { field: 'snapshot' }, message: expect.stringMatching(/stored options are invalid: option blockSize must be a positive integer, got -3$/) }));
    }
    // Valid stored options that the weights given do not fit are still the caller's.
    const wide = withOptions(engine.snapshot({ weights: false }), 'options', (o) => Object.assign(o, { dim: 4, heads: 2, headDim: 1 }));
    expect(() => restoreAttention(wide, options)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'weights' }, message: expect.stringMatching(/the weights given do not fit its stored options/) }));
  });

  it("restored onto a model's engine, a session shares the model's options and weights (no copy), continues bit for bit, and joins its forks in pushEach", () => {
    // From a bug hunt building decoders: a restored session was an engine of its own, so it could
    // not join the model's batch, and every restore copied the weights again.
    const w = (rows: number, cols: number, k: number) => Array.from({ length: rows * cols }, (_, i) => Math.sin(i * k + 1));
    const model = (k: number, extra: Partial<AttentionOptions> = {}) =>
      createAttention({ dim: 8, heads: 2, kvHeads: 1, positions: 'rope', window: 4, lookahead: 1, weights: { wq: w(8, 8, k), wk: w(4, 8, k + 1), wv: w(4, 8, k + 2), wo: w(8, 8, k + 3) }, ...extra });
    for (const precision of ['float32', 'float64'] as const) {
      const base = model(1, { precision });
      const session = base.fork();
      const xs = Array.from({ length: 7 }, (_, t) => w(1, 8, t + 11));
      session.pushMany(xs.slice(0, 5));
      for (const bytes of [session.snapshot({ weights: false }), session.snapshot()]) {
        const back = restoreAttention(bytes, base);
        expect(back.options).toBe(base.options);
        const twin = session.fork();
        const other = base.fork();
        other.push(xs[0]!);
        const together = pushEach([back, other], [xs[5]!, xs[6]!]);
        expect(together[0]).toEqual(twin.push(xs[5]!));
        expect(plainSteps(back.flush())).toEqual(plainSteps(twin.flush()));
      }
      // Another model of the same shapes, or of other options, is refused; so is a disposed model.
      const state = session.snapshot({ weights: false });
      expect(() => restoreAttention(state, model(2, { precision }))).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'weights' } }));
      expect(() => restoreAttention(session.snapshot(), model(2, { precision }))).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'weights.wq' } }));
      expect(() => restoreAttention(state, model(1, { precision, window: 5 }))).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'window' } }));
      // A seed-mode model (no weights at all) differs from the session's in its head layout first.
      expect(() => restoreAttention(state, createAttention({ dim: 8, heads: 2, precision }))).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'kvHeads' } }));
      const gone = model(1, { precision });
      gone.dispose();
      expect(() => restoreAttention(state, gone)).toThrow(expect.objectContaining({ code: 'DISPOSED', details: { field: 'model' } }));
      // A model of other options is told apart by them before its weights (found by a review).
      expect(() => restoreAttention(state, createAttention({ dim: 16, heads: 2, weights: { wq: w(16, 16, 1), wk: w(16, 16, 2), wv: w(16, 16, 3) }, precision }))).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'dim' } }),
      );
      expect(() => restoreAttention(state, createAttentionStack({ layers: 1, dim: 8 }) as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'model' } }));
    }
  });

  it('a model disposed while its snapshot is decoded (by a method of the bytes) is refused, not read after its weights went back', () => {
    // A reentrancy audit: the model was checked before decoding only, and the restored engine then
    // read its weights where the arena had put another engine's.
    const w = (k: number) => Array.from({ length: 16 }, (_, i) => Math.sin(i * k + 1));
    const weights = { wq: w(1), wk: w(2), wv: w(3), wo: w(4) };
    const disposingBytes = (bytes: Uint8Array, dispose: () => void): Uint8Array => {
      let once = true;
      class Bytes extends Uint8Array {
        override subarray(begin?: number, end?: number): Uint8Array<ArrayBuffer> {
          if (once) {
            once = false;
            dispose();
          }
          return super.subarray(begin, end);
        }
      }
      return new Bytes(bytes);
    };
    const gone = expect.objectContaining({ code: 'DISPOSED', details: { field: 'model' } });
    const engine = createAttention({ dim: 4, heads: 2, weights });
    const session = engine.fork();
    session.push([1, 2, 3, 4]);
    expect(() => restoreAttention(disposingBytes(session.snapshot({ weights: false }), () => engine.dispose()), engine)).toThrow(gone);
    const stack = createAttentionStack({ layers: 2, dim: 4, heads: 2, weights });
    const beam = stack.fork();
    beam.layer(0).push([1, 2, 3, 4]);
    beam.layer(1).push([4, 3, 2, 1]);
    expect(() => restoreAttentionStack(disposingBytes(beam.snapshot({ weights: false }), () => stack.dispose()), stack)).toThrow(gone);
    const cross = createCrossAttention({ dim: 4, heads: 2, weights });
    const listener = cross.fork();
    listener.setMemory([[1, 0, 0, 0], [0, 1, 0, 0]]);
    expect(() => restoreCrossAttention(disposingBytes(listener.snapshot({ weights: false }), () => cross.dispose()), cross)).toThrow(gone);
  });

  it('a model of the wrong kind is refused as the model, whichever restore it goes to', () => {
    // Found by an errors.md audit: a cross-attention given to restoreAttention or restoreAttentionStack,
    // or a stack to restoreCrossAttention, was read as an options object (INVALID_OPTION "options", "engines").
    const engine = createAttention({ dim: 2 });
    const stack = createAttentionStack({ layers: 1, dim: 2 });
    const cross = createCrossAttention({ dim: 2 });
    const wrong = expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'model' } });
    expect(() => restoreAttention(engine.snapshot(), cross as never)).toThrow(wrong);
    expect(() => restoreAttentionStack(stack.snapshot(), cross as never)).toThrow(wrong);
    expect(() => restoreCrossAttention(cross.snapshot(), stack as never)).toThrow(wrong);
    expect(() => restoreCrossAttention(cross.snapshot(), engine as never)).toThrow(wrong);
  });

  it("refuses a state saved without its weights restored with another model's, of the same shapes, by the weights' fingerprint", () => {
    // From a bug hunt building decoders: such a restore went on silently with the wrong model.
    const w = (rows: number, cols: number, k: number) => Array.from({ length: rows * cols }, (_, i) => Math.sin(i * k + 1));
    const model = (k: number): AttentionOptions => ({ dim: 8, heads: 2, weights: { wq: w(8, 8, k), wk: w(8, 8, k + 1), wv: w(8, 8, k + 2), wo: w(8, 8, k + 3) } });
    for (const precision of ['float32', 'float64'] as const) {
      const engine = createAttention({ ...model(1), precision });
      engine.pushMany([w(1, 8, 7), w(1, 8, 8)]);
      const state = engine.snapshot({ weights: false });
      expect(decodeSafetensors(state).metadata['weights_fingerprint']).toMatch(/^[0-9a-f]{16}$/);
      expect(() => restoreAttention(state, { ...model(2), precision })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'weights' }, message: expect.stringContaining('not the ones it was taken with') }),
      );
      // The model's own weights, given afresh, are taken, −0 given as +0 too (as a JSON round trip
      // gives them; found by a review, the fingerprint told them apart).
      expect(restoreAttention(state, { ...model(1), precision }).length).toBe(2);
      const signed = model(1);
      const wq = (signed.weights!.wq as number[]).slice();
      wq[0] = -0;
      const zeroed = createAttention({ ...signed, weights: { ...signed.weights!, wq }, precision });
      zeroed.push(w(1, 8, 7));
      expect(restoreAttention(zeroed.snapshot({ weights: false }), { ...signed, weights: { ...signed.weights!, wq: wq.map((v) => (v === 0 ? 0 : v)) }, precision }).length).toBe(1);
      // A file from before the digest is checked by its fingerprint; one from before fingerprints not at all.
      const { tensors, metadata } = decodeSafetensors(state);
      expect(metadata['weights_digest']).toMatch(/^[0-9a-f]{16}$/);
      const { weights_digest: _, ...fingerprinted } = metadata;
      const older = encodeSafetensors(Object.fromEntries(tensors), fingerprinted);
      expect(() => restoreAttention(older, { ...model(2), precision })).toThrow(expect.objectContaining({ message: expect.stringContaining('(fingerprint ') }));
      const { weights_fingerprint: __, ...unmarkedMetadata } = fingerprinted;
      const unmarked = encodeSafetensors(Object.fromEntries(tensors), unmarkedMetadata);
      expect(restoreAttention(unmarked, { ...model(2), precision }).length).toBe(2);
    }
  });

  it("refuses a model one entry apart from the session's, an entry the fingerprint's samples skip, by the digest of every entry (a fuzz of restores onto wrong models)", () => {
    // 64 × 64 matrices: the fingerprint reads entries 0, 4, 8, … of each, never entry 1.
    const w = (k: number) => Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i * k + 1) / 8);
    const options: AttentionOptions = { dim: 64, heads: 4, weights: { wq: w(1), wk: w(2), wv: w(3) } };
    const engine = createAttention(options);
    engine.pushMany([w(5).slice(0, 64), w(6).slice(0, 64)]);
    const state = engine.snapshot({ weights: false });
    const wv = w(3);
    wv[1] = wv[1]! + 0.25;
    const nearly = { ...options, weights: { ...options.weights!, wv } };
    expect(() => restoreAttention(state, nearly)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'weights' }, message: expect.stringContaining('(digest ') }));
    expect(restoreAttention(state, options).length).toBe(2);
    // What the sampled fingerprint alone (a file written before the digest) lets through.
    const { tensors, metadata } = decodeSafetensors(state);
    const { weights_digest: _, ...fingerprinted } = metadata;
    expect(restoreAttention(encodeSafetensors(Object.fromEntries(tensors), fingerprinted), nearly).length).toBe(2);
  });

  it('writes version 2 unless the file needs 3 (biases, RoPE variants, weights left out), which a version-2 reader would misread', () => {
    const version = (options: AttentionOptions, snapshot?: { weights: boolean }) => decodeSafetensors(createAttention(options).snapshot(snapshot)).metadata['version'];
    const w = new Array(16).fill(0.5);
    expect(version({ dim: 4 })).toBe('2');
    expect(version({ dim: 4, positions: 'rope', weights: { wq: w, wk: w, wv: w } })).toBe('2');
    expect(version({ dim: 4, weights: { wq: w, wk: w, wv: w, bk: [1, 2, 3, 4] } })).toBe('3');
    expect(version({ dim: 4, positions: 'rope', ropeDim: 2 })).toBe('3');
    expect(version({ dim: 4, positions: 'rope', ropeStyle: 'interleaved' })).toBe('3');
    expect(version({ dim: 4, weights: { wq: w, wk: w, wv: w } }, { weights: false })).toBe('3');
    expect(version({ dim: 4 }, { weights: false })).toBe('2');
    expect(() => createAttention({ dim: 4 }).snapshot({ weight: false } as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('restores with run choices alone (no dim): withWeights, kernels, threads; anything else needs the whole options', () => {
    const engine = createAttention({ dim: 2, window: 4 });
    engine.push([1, 0]);
    const bytes = engine.snapshot();
    expect(restoreAttention(bytes, { withWeights: true }).push([0, 1])[0]!.weights).toHaveLength(1);
    expect(restoreAttention(bytes, { kernels: 'js' }).options.kernels).toBe('js');
    expect(() => restoreAttention(bytes, { window: 8 } as unknown as RunOptions)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'window' } }));
    for (const notOptions of [null, 3, 'dim']) {
      expect(() => restoreAttention(bytes, notOptions as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', details: { field: 'options' } }));
    }
  });

  it('refuses options that disagree with the snapshot', () => {
    const bytes = createAttention({ dim: 4, window: 8 }).snapshot();
    expect(() => restoreAttention(bytes, { dim: 4, window: 16 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: 'option window is 16 but the snapshot was taken with 8' }));
    expect(restoreAttention(bytes, { dim: 4, window: 8 }).length).toBe(0);
  });

  it('a header past the 16 MiB a restore reads is refused by the writer (OUT_OF_RANGE), not written for its own restore to call corrupt', () => {
    // From an audit: an engine of 2^20 heads, each with a sink logit, wrote a 20 MB header that
    // restoreAttention then refused as CORRUPT_SNAPSHOT, though nothing was damaged.
    const limit = 16 * 1024 * 1024;
    const headerOf = (text: string) => new TextEncoder().encode(JSON.stringify({ __metadata__: { text }, checksum: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } })).length;
    const fill = 'x'.repeat(limit - headerOf(''));
    const full = encodeSafetensors({}, { text: fill });
    expect(new DataView(full.buffer).getUint32(0, true)).toBe(limit);
    expect(decodeSafetensors(full).metadata['text']).toHaveLength(fill.length); // the limit is the reader's, exactly
    expect(() => encodeSafetensors({}, { text: `${fill}x` })).toThrow(
      expect.objectContaining({
        code: 'OUT_OF_RANGE',
        details: { field: 'snapshot', expected: `0..${limit}`, actual: limit + 8 },
        message: expect.stringMatching(/^snapshot: its header would take 16777224 bytes, past the 16777216 a restore reads/),
      }),
    );
    const heads = 2 ** 20;
    const engine = createAttention({ dim: heads, heads, sinkLogits: Array.from({ length: heads }, (_, h) => Math.sin(h)), blockSize: 1 });
    expect(() => engine.snapshot()).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE', details: expect.objectContaining({ field: 'snapshot' }) }));
    engine.dispose();
  });
});

/** `bytes` with their last four set to the CRC-32 of the rest (Node's zlib, not the library's): a file as a writer that means it would make it. */
const sealed = (bytes: Uint8Array): Uint8Array => {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(bytes.length - 4, crc32(bytes.subarray(0, bytes.length - 4)), true);
  return bytes;
};

/** Steps as plain numbers, so that toEqual compares every bit. */
const plainSteps = (steps: AttentionStep[]) => steps.map((s) => ({ index: s.index, output: Array.from(s.output) }));

describe('hostile snapshots get an AttentionError, never a crash, hang or giant allocation', () => {
  const valid = (() => {
    const attn = createAttention({ dim: 2, window: 3, sinks: 1, blockSize: 2 });
    attn.pushMany([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]);
    return attn.snapshot();
  })();
  const { tensors, metadata } = decodeSafetensors(valid);
  const rebuild = (edit: (header: Record<string, any>) => void, data?: (bytes: Uint8Array, header: Record<string, any>) => void): Uint8Array => {
    const headerLength = Number(new DataView(valid.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(valid.subarray(8, 8 + headerLength)));
    edit(header);
    const json = new TextEncoder().encode(JSON.stringify(header));
    const payload = valid.slice(8 + headerLength);
    data?.(payload, header);
    const out = new Uint8Array(8 + json.length + payload.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.set(payload, 8 + json.length);
    return sealed(out);
  };
  const withLength = (n: bigint) => {
    const copy = valid.slice();
    new DataView(copy.buffer).setBigUint64(0, n, true);
    return copy;
  };
  const cases: [string, Uint8Array, string, RegExp][] = [
    ['empty', new Uint8Array(0), 'CORRUPT_SNAPSHOT', /shorter than the 8-byte header length/],
    ['truncated data', valid.slice(0, valid.length - 3), 'CORRUPT_SNAPSHOT', /fall outside|needs more bytes/],
    ['truncated header', valid.slice(0, 40), 'CORRUPT_SNAPSHOT', /runs past the end/],
    ['header length beyond the file', withLength(BigInt(valid.length)), 'CORRUPT_SNAPSHOT', /runs past the end/],
    ['absurd header length (2^60)', withLength(2n ** 60n), 'CORRUPT_SNAPSHOT', /exceeds the .* limit/],
    ['invalid JSON', rebuild(() => {}, undefined).fill(0x7b, 8, 12), 'CORRUPT_SNAPSHOT', /not valid UTF-8 JSON/],
    ['a __proto__ key', new TextEncoder().encode(''), 'CORRUPT_SNAPSHOT', /__proto__/],
    ['a constructor key in a tensor', rebuild((h) => (h.keys.constructor = 1)), 'CORRUPT_SNAPSHOT', /forbidden key "constructor"/],
    ['wrong dtype', rebuild((h) => (h.keys.dtype = 'F64')), 'CORRUPT_SNAPSHOT', /needs \d+ bytes|is F64, expected F32/],
    ['unknown dtype', rebuild((h) => (h.keys.dtype = 'BF16')), 'CORRUPT_SNAPSHOT', /unsupported dtype "BF16"/],
    ['shape disagreeing with the options', rebuild((h) => (h.keys.shape = [h.keys.shape[0], 2, 1])), 'CORRUPT_SNAPSHOT', /shape \[\d+, 2, 1\], expected/],
    ['shape disagreeing with the offsets', rebuild((h) => (h.keys.shape = [1000, 1, 2])), 'CORRUPT_SNAPSHOT', /needs more bytes than the file holds/],
    ['overlapping offsets', rebuild((h) => (h.values.data_offsets = h.keys.data_offsets)), 'CORRUPT_SNAPSHOT', /overlap/],
    ['offsets out of range', rebuild((h) => (h.values.data_offsets = [1e9, 1e9 + 8])), 'CORRUPT_SNAPSHOT', /fall outside/],
    ['negative offsets', rebuild((h) => (h.values.data_offsets = [-8, 0])), 'CORRUPT_SNAPSHOT', /invalid data_offsets/],
    ['non-finite data', rebuild(() => {}, (d, h) => new Float32Array(d.buffer, d.byteOffset + h.values.data_offsets[0] + 4, 1).fill(NaN)), 'CORRUPT_SNAPSHOT', /tensor values holds a non-finite number at element 1/],
    ['unknown version', rebuild((h) => (h.__metadata__.version = '99')), 'UNSUPPORTED_SNAPSHOT', /version "99" is not supported/],
    ['another format', rebuild((h) => (h.__metadata__.format = 'llama.cpp')), 'UNSUPPORTED_SNAPSHOT', /format is "llama.cpp"/],
    ['a held block missing a position', rebuild((h) => ((h.__metadata__.length = '9'), (h.__metadata__.emitted = '9'))), 'CORRUPT_SNAPSHOT', /block 2 holds 1 of its 2 positions below length 9/],
    ['emitted below length − lookahead', rebuild((h) => (h.__metadata__.emitted = '4')), 'CORRUPT_SNAPSHOT', /emitted 4 is below length 5 − lookahead 0/],
    ['emitted beyond length', rebuild((h) => (h.__metadata__.emitted = '6')), 'CORRUPT_SNAPSHOT', /emitted 6 exceeds length 5/],
    ['options that are not JSON', rebuild((h) => (h.__metadata__.options = '{dim')), 'CORRUPT_SNAPSHOT', /options metadata is not valid JSON/],
    ['invalid stored options', rebuild((h) => (h.__metadata__.options = '{"dim":-1}')), 'CORRUPT_SNAPSHOT', /stored options are invalid: option dim/],
    // The file holds what the numbers are, not how they are run, and its weights only as tensors.
    ...(['kernels', 'threads', 'weights'] as const).map((key): [string, Uint8Array, string, RegExp] => [
      `stored options holding ${key}, which the writer never stores`,
      rebuild((h) => (h.__metadata__.options = JSON.stringify({ ...JSON.parse(h.__metadata__.options), [key]: { kernels: 'js', threads: null, weights: { wq: [2, 0, 0, 2], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } }[key] }))),
      'CORRUPT_SNAPSHOT',
      new RegExp(`^snapshot: stored options hold ${key}, which a snapshot never stores`),
    ]),
    ['positions out of order', rebuild(() => {}, (d) => new Int32Array(d.buffer, d.byteOffset, 2).reverse()), 'CORRUPT_SNAPSHOT', /positions must ascend/],
    ['trailing bytes', Uint8Array.of(...valid, 0, 0, 0, 0), 'CORRUPT_SNAPSHOT', /the last 4 data bytes belong to no tensor/],
  ];
  // JSON.stringify drops a __proto__ set by assignment, so that header is written by hand.
  cases[6]![1] = (() => {
    const json = new TextEncoder().encode('{"__proto__":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}');
    const out = new Uint8Array(8 + json.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    return out;
  })();

  it.each(cases)('%s', (_, bytes, code, message) => {
    let error: unknown;
    try {
      restoreAttention(bytes);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AttentionError);
    expect((error as AttentionError).code).toBe(code);
    expect((error as AttentionError).message).toMatch(message);
  });

  it('names and values from the file are quoted in a message cut to a few dozen characters, however long', () => {
    // Found by a resource hunt: a 10 MB tensor name, format, version, length or shape was echoed
    // whole into the message (and from there into a server's logs).
    const long = 'x'.repeat(10_000_000);
    const files: [string, Uint8Array][] = [
      ['a tensor name', rebuild((h) => ((h[long] = h.keys), delete h.keys))],
      ['a dtype', rebuild((h) => (h.keys.dtype = long))],
      ['a shape', rebuild((h) => (h.keys.shape = Array.from({ length: 1_000_000 }, () => 1)))],
      ['the format', rebuild((h) => (h.__metadata__.format = long))],
      ['the version', rebuild((h) => (h.__metadata__.version = long))],
      ['the length', rebuild((h) => (h.__metadata__.length = long))],
      ['the weights marker', rebuild((h) => (h.__metadata__.weights = long))],
    ];
    for (const [what, bytes] of files) {
      let message = '';
      try {
        restoreAttention(bytes);
      } catch (e) {
        message = (e as AttentionError).message;
      }
      expect(message, what).toMatch(/^snapshot/);
      expect(message.length, what).toBeLessThan(400);
    }
    const stack = decodeSafetensors(createAttentionStack({ layers: 1, dim: 2 }).snapshot());
    expect(() => restoreAttentionStack(encodeSafetensors(Object.fromEntries(stack.tensors), { ...stack.metadata, layers: long }))).toThrow(/^snapshot: layers metadata must be an integer from 1 to 4096, got "x{60}…" \(of 10000000 characters\)$/);
  });

  it('the valid snapshot these are made from restores', () => {
    expect(restoreAttention(valid).length).toBe(5);
    expect(encodeSafetensors(Object.fromEntries(tensors), metadata).length).toBe(valid.length);
  });

  it('fuzz: every mutant (bit flips, truncations, splices, header edits) is refused as corrupt, and one resealed restores a working engine or throws AttentionError', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(valid.length - 1), bit: fc.nat(7) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(valid.length) }),
      fc.record({ kind: fc.constant('splice' as const), at: fc.nat(valid.length), bytes: fc.uint8Array({ maxLength: 16 }) }),
      fc.record({ kind: fc.constant('header' as const), at: fc.integer({ min: 8, max: 200 }), char: fc.constantFrom(...'0123456789{}[]",:-eE.aF') }),
    );
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        let bytes = valid.slice();
        for (const m of mutations) {
          if (m.kind === 'flip') bytes[m.at % bytes.length] = bytes[m.at % bytes.length]! ^ (1 << m.bit);
          else if (m.kind === 'truncate') bytes = bytes.slice(0, m.at % (bytes.length + 1));
          else if (m.kind === 'splice') bytes = Uint8Array.from([...bytes.subarray(0, m.at), ...m.bytes, ...bytes.subarray(m.at)]);
          else if (m.at < bytes.length) bytes[m.at] = m.char.charCodeAt(0);
        }
        if (bytes.length !== valid.length || bytes.some((b, i) => b !== valid[i])) {
          // Refused: by the checksum, or, where one edit renamed the checksum (then an unknown
          // tensor) and another the format's key, as a file of no known format.
          expect(() => restoreAttention(bytes)).toThrow(expect.objectContaining({ code: expect.stringMatching(/^(CORRUPT|UNSUPPORTED)_SNAPSHOT$/) }));
        }
        // Resealed, as a writer that meant these bytes would seal them, it meets every other check.
        if (bytes.length >= 4) sealed(bytes);
        let restored: Attention;
        try {
          restored = restoreAttention(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(AttentionError);
          return;
        }
        // It restored: it must work as an engine of its own options.
        const dim = restored.options.dim;
        const steps = continued(restored, [new Array(dim).fill(0.5), new Array(dim).fill(-1)]);
        for (const step of steps) expect(step.output.every(Number.isFinite)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('a snapshot ends with the CRC-32 of everything before it', () => {
  const engineBytes = (() => {
    const eye = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
    const attn = createAttention({ dim: 4, heads: 2, window: 3, sinks: 1, blockSize: 2, weights: { wq: eye, wk: eye, wv: eye } });
    attn.pushMany([[1, 2, 3, 4], [5, 6, 7, 8], [-1, 0.5, 2, 0], [0, 0, 1, 1]]);
    return attn.snapshot();
  })();
  const stackBytes = (() => {
    const stack = createAttentionStack({ layers: 2, dim: 2, cacheDtype: 'int8', blockSize: 2 });
    for (const x of [[1, 2], [3, -4], [0.5, 6]]) for (let i = 0; i < 2; i++) stack.layer(i).push(x);
    return stack.snapshot();
  })();
  const crossBytes = (() => {
    const cross = createCrossAttention({ dim: 2, precision: 'float64' });
    cross.setMemory([[1, 0], [0, 1], [2, 2]]);
    cross.attend([1, 1]);
    return cross.snapshot();
  })();
  const files = [
    ['an engine', engineBytes, (b: Uint8Array) => restoreAttention(b)],
    ['a stack', stackBytes, (b: Uint8Array) => restoreAttentionStack(b)],
    ['a cross-attention', crossBytes, (b: Uint8Array) => restoreCrossAttention(b)],
  ] as const;

  it.each(files)("%s: its last four bytes are zlib's CRC-32 of the others, in a checksum tensor", (_, bytes) => {
    const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    const dataLength = bytes.length - 8 - headerLength;
    expect(header.checksum).toEqual({ dtype: 'I32', shape: [1], data_offsets: [dataLength - 4, dataLength] });
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 4, true)).toBe(crc32(bytes.subarray(0, bytes.length - 4)));
  });

  it.each(files)('%s: every single flipped bit, anywhere in the file, is refused as corrupt', (_, bytes, restore) => {
    expect(() => restore(bytes)).not.toThrow();
    for (let at = 0; at < bytes.length; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const flipped = bytes.slice();
        flipped[at] = flipped[at]! ^ (1 << bit);
        let error: unknown;
        try {
          restore(flipped);
        } catch (e) {
          error = e;
        }
        if (!(error instanceof AttentionError) || error.code !== 'CORRUPT_SNAPSHOT') expect.fail(`bit ${bit} of byte ${at} flipped: ${error instanceof Error ? error.message : 'restored'}`);
      }
    }
  });

  it('a changed number says what the checksum found; files written before checksums restore unchecked', () => {
    const changed = engineBytes.slice();
    changed[changed.length - 8] = changed[changed.length - 8]! ^ 1;
    const computed = crc32(changed.subarray(0, changed.length - 4)).toString(16).padStart(8, '0');
    const stored = crc32(engineBytes.subarray(0, engineBytes.length - 4)).toString(16).padStart(8, '0');
    expect(() => restoreAttention(changed)).toThrow(
      expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: `snapshot: the bytes are not those written: their CRC-32 is ${computed}, the file's checksum says ${stored}` }),
    );
    const old = new Uint8Array(readFileSync(new URL('./fixtures/snapshots/snapshot-v1-rope-cache.safetensors', import.meta.url)));
    expect(new TextDecoder().decode(old)).not.toContain('"checksum"');
    expect(restoreAttention(old).length).toBe(9);
  });

  it('a checksum that is not the last tensor, or not one I32, is refused', () => {
    const { tensors, metadata } = decodeSafetensors(engineBytes);
    const keys = tensors.get('keys')!;
    // Written by hand: the checksum ahead of the keys, and as two numbers.
    const early = encodeSafetensors({ checksum: { dtype: 'I32', shape: [1], data: new Int32Array(1) }, ...Object.fromEntries(tensors) }, metadata);
    expect(() => restoreAttention(early)).toThrow(/data bytes .* belong to no tensor|must be the file's last/);
    const twice = encodeSafetensors(Object.fromEntries(tensors), metadata);
    expect(decodeSafetensors(twice).tensors.get('keys')!.data).toEqual(keys.data);
    const headerLength = Number(new DataView(twice.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(twice.subarray(8, 8 + headerLength)));
    // Four bytes, but not one I32 of shape [1] (a review found [] and [1, 1] restored).
    for (const entry of [{ dtype: 'F32' }, { shape: [] }, { shape: [1, 1] }]) {
      const json = new TextEncoder().encode(JSON.stringify({ ...header, checksum: { ...header.checksum, ...entry } }));
      const retyped = new Uint8Array(8 + json.length + twice.length - 8 - headerLength);
      new DataView(retyped.buffer).setBigUint64(0, BigInt(json.length), true);
      retyped.set(json, 8);
      retyped.set(twice.subarray(8 + headerLength), 8 + json.length);
      expect(() => restoreAttention(sealed(retyped))).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: `snapshot: tensor "checksum" must be the file's last, I32 of shape [1]` }));
    }
  });

  it('a tensor no snapshot holds is refused, so a bit flipped in the checksum\'s name cannot leave the file unchecked', () => {
    const { tensors, metadata } = decodeSafetensors(engineBytes);
    const extra = { dtype: 'I32', shape: [1], data: new Int32Array(1) } as const;
    expect(() => restoreAttention(encodeSafetensors({ ...Object.fromEntries(tensors), chdcksum: extra }, metadata))).toThrow(
      expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: 'snapshot: tensor "chdcksum" is not one a snapshot holds' }),
    );
    const stack = decodeSafetensors(stackBytes);
    for (const name of ['layers.2.keys', 'layers.01.keys', 'keys', 'layers.0.weights.wx']) {
      expect(() => restoreAttentionStack(encodeSafetensors({ ...Object.fromEntries(stack.tensors), [name]: extra }, stack.metadata))).toThrow(
        expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: `snapshot: tensor "${name}" is not one a snapshot holds` }),
      );
    }
    const cross = decodeSafetensors(crossBytes);
    expect(() => restoreCrossAttention(encodeSafetensors({ ...Object.fromEntries(cross.tensors), 'weights.wx': extra }, cross.metadata))).toThrow(/tensor "weights.wx" is not one a snapshot holds/);
    // The names a stack's layers hold are known under their own prefixes.
    expect(restoreAttentionStack(encodeSafetensors(Object.fromEntries(stack.tensors), stack.metadata)).depth).toBe(2);
  });
});

describe("snapshot({ metadata }): the application's strings in the file, read back by snapshotMetadata", () => {
  it('an engine, a stack and a cross-attention keep them, covered by the checksum, and restore as without them', () => {
    const metadata = { text: 'the cat sat', next: '812', note: 'ünïcödé ✓' };
    const engine = createAttention({ dim: 2, window: 4 });
    engine.pushMany([[1, 0], [0, 1], [1, 1]]);
    const stack = createAttentionStack({ layers: 2, dim: 2 });
    stack.layer(0).push([1, 2]);
    stack.layer(1).push([3, 4]);
    const cross = createCrossAttention({ dim: 2 });
    cross.setMemory([[1, 0]]);
    for (const [with_, without, restore] of [
      [engine.snapshot({ metadata }), engine.snapshot(), (b: Uint8Array) => continued(restoreAttention(b), [[2, 1]])],
      [stack.snapshot({ metadata }), stack.snapshot(), (b: Uint8Array) => restoreAttentionStack(b).layer(1).push([0, 1])],
      [cross.snapshot({ metadata }), cross.snapshot(), (b: Uint8Array) => [restoreCrossAttention(b).attend([1, 1])]],
    ] as const) {
      expect(snapshotMetadata(with_)).toEqual(metadata);
      expect(snapshotMetadata(without)).toEqual({});
      expect(restore(with_)).toEqual(restore(without));
      const flipped = with_.slice();
      const at = new TextDecoder().decode(with_).indexOf('the cat sat');
      flipped[at] = flipped[at]! ^ 1;
      expect(() => snapshotMetadata(flipped)).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT' }));
    }
  });

  it("snapshotMetadata refuses a tensor no snapshot holds, so a bit flipped in the checksum's name cannot leave the strings unchecked", () => {
    const stack = createAttentionStack({ layers: 2, dim: 2 });
    stack.layer(0).push([1, 2]);
    stack.layer(1).push([3, 4]);
    for (const bytes of [createAttention({ dim: 2 }).snapshot({ metadata: { text: 'the cat' } }), stack.snapshot({ metadata: { text: 'the cat' } })]) {
      const flipped = bytes.slice();
      const text = new TextDecoder().decode(bytes);
      const name = text.indexOf('"checksum"') + 3;
      flipped[name] = flipped[name]! ^ 1; // "chdcksum"
      flipped[text.indexOf('the cat')] = flipped[text.indexOf('the cat')]! ^ 1; // "uhe cat"
      expect(() => snapshotMetadata(flipped)).toThrow(
        expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: 'snapshot: tensor "chdcksum" is not one a snapshot holds' }),
      );
    }
    const { tensors, metadata } = decodeSafetensors(stack.snapshot());
    const extra = { dtype: 'I32', shape: [1], data: new Int32Array(1) } as const;
    expect(() => snapshotMetadata(encodeSafetensors({ ...Object.fromEntries(tensors), 'layers.2.keys': extra }, metadata))).toThrow(/tensor "layers.2.keys" is not one a snapshot holds/);
    expect(() => snapshotMetadata(encodeSafetensors(Object.fromEntries(tensors), { ...metadata, layers: '0' }))).toThrow(
      expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', details: { field: 'layers' } }),
    );
  });

  it("a restore refuses a file of another format, or with a tensor no snapshot holds, before it copies any tensor out (a hostile header's hundreds of thousands)", () => {
    const engine = createAttention({ dim: 2 });
    engine.push([1, 2]);
    const { tensors, metadata } = decodeSafetensors(engine.snapshot());
    const empty = { dtype: 'F32', shape: [0], data: new Float32Array(0) } as const;
    const many = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`junk.${i}`, empty]));
    for (const [bytes, restore, message] of [
      [encodeSafetensors({ ...Object.fromEntries(tensors), ...many }, metadata), restoreAttention, /tensor "junk\.\d+" is not one a snapshot holds/],
      [encodeSafetensors({ ...Object.fromEntries(tensors), ...many }, { ...metadata, format: 'other' }), restoreAttention, /format is "other"/],
      [encodeSafetensors({ ...Object.fromEntries(tensors), ...many }, metadata), restoreAttentionStack, /format is "attnstream.attention"/],
      [encodeSafetensors({ ...Object.fromEntries(tensors), ...many }, metadata), restoreCrossAttention, /format is "attnstream.attention"/],
    ] as const) {
      // Each copy of a tensor takes a subarray of the bytes; reading the header and checksum take two.
      let subarrays = 0;
      class Counted extends Uint8Array {
        override subarray(begin?: number, end?: number): Uint8Array<ArrayBuffer> {
          subarrays++;
          return super.subarray(begin, end);
        }
      }
      expect(() => (restore as (bytes: Uint8Array) => unknown)(new Counted(bytes))).toThrow(message);
      expect(subarrays).toBeLessThanOrEqual(2);
    }
  });

  it('refuses metadata that is not an object of strings, or past 1 MiB, before anything is written', () => {
    const engine = createAttention({ dim: 2 });
    const refused = (options: unknown, field: string) => expect(() => engine.snapshot(options as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: expect.objectContaining({ field }) }));
    refused({ metadata: 'text' }, 'metadata');
    refused({ metadata: null }, 'metadata');
    refused({ metadata: { next: 812 } }, 'metadata');
    refused({ metadata: new Map([['next', '812']]) }, 'metadata');
    refused({ metadata: ['812'] }, 'metadata');
    expect(snapshotMetadata(engine.snapshot({ metadata: Object.assign(Object.create(null) as object, { next: '812' }) }))).toEqual({ next: '812' });
    refused({ metadata: { text: 'x'.repeat(2 ** 20) } }, 'metadata');
    refused({ metadata: { text: '✓'.repeat(2 ** 19) } }, 'metadata');
    refused({ meta: {} }, 'meta');
    expect(snapshotMetadata(engine.snapshot({ metadata: { text: 'x'.repeat(2 ** 20 - 100) } }))['text']).toHaveLength(2 ** 20 - 100);
  });

  it('snapshotMetadata refuses what is not one of attnstream snapshots', () => {
    const other = encodeSafetensors({ w: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }, { format: 'pt' });
    expect(() => snapshotMetadata(other)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_SNAPSHOT', details: { field: 'format' } }));
    expect(() => snapshotMetadata(new Uint8Array(3))).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT' }));
  });
});
