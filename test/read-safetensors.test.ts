import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runInNewContext } from 'node:vm';
import { createAttention, readSafetensors, restoreAttention } from '../src/index.js';
import { decodeSafetensors } from '../src/cache/safetensors.js';

// test/fixtures/checkpoint.safetensors is laid out by scripts/reference/safetensors_checkpoint.py
// from the format's specification, with the numbers numpy reads back beside it.
const file = new Uint8Array(readFileSync(new URL('./fixtures/checkpoint.safetensors', import.meta.url)));
const expected = JSON.parse(readFileSync(new URL('./fixtures/checkpoint-expected.json', import.meta.url), 'utf8')) as {
  metadata: Record<string, string>;
  tensors: { name: string; dtype: string; shape: number[]; values: (number | string)[] | null }[];
};
const numberOf = (v: number | string) => (typeof v === 'number' ? v : v === 'inf' ? Infinity : -Infinity);

/** A safetensors file with this header (as JSON text) and `data` bytes after it. */
function fileWith(header: string, data = new Uint8Array(0)): Uint8Array {
  const text = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setUint32(0, text.length, true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

describe('readSafetensors: checkpoint tensors for the engine', () => {
  it("lists the Python-written file's tensors in order with dtypes and shapes, and its metadata", () => {
    const opened = readSafetensors(file);
    expect(opened.metadata).toEqual(expected.metadata);
    expect(opened.tensors).toEqual(expected.tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })));
  });

  it('reads F16 and BF16 widened exactly to float32 (±0, subnormals, ±Infinity, 65504, ties to even), F32, F64, I32 and I8 as numpy does', () => {
    const opened = readSafetensors(file);
    for (const t of expected.tensors.filter((t) => t.values !== null)) {
      const data = opened.read(t.name);
      expect(data.constructor.name, t.name).toBe({ F16: 'Float32Array', BF16: 'Float32Array', F32: 'Float32Array', F64: 'Float64Array', I32: 'Int32Array', I8: 'Int8Array' }[t.dtype]);
      expect(Array.from(data), t.name).toEqual(t.values!.map(numberOf));
      // Signed zeros kept.
      Array.from(data).forEach((v, i) => expect(Object.is(v, numberOf(t.values![i]!)), `${t.name}[${i}]`).toBe(true));
    }
    // Each read is a fresh copy.
    expect(opened.read('lm_head.weight')).not.toBe(opened.read('lm_head.weight'));
  });

  it("keeps an F16 NaN's sign and payload, as numpy's widening does (its bits, printed by numpy 2.4)", () => {
    const halves = new Uint16Array([0x7c01, 0x7e00, 0xfe00, 0xfd55, 0x7fff]);
    const bytes = fileWith(JSON.stringify({ nan: { dtype: 'F16', shape: [5], data_offsets: [0, 10] } }), new Uint8Array(halves.buffer));
    const widened = readSafetensors(bytes).read('nan') as Float32Array;
    expect(Array.from(new Uint32Array(widened.buffer, widened.byteOffset, 5))).toEqual([0x7f802000, 0x7fc00000, 0xffc00000, 0xffaaa000, 0x7fffe000]);
  });

  it('refuses a read once the bytes were detached (transferred, a WebAssembly.Memory that grew) or shrunk, naming why', () => {
    // Found by a reentrancy hunt: a TypeError from inside, or an empty array from a shrunken view.
    const bytes = createAttention({ dim: 2, weights: { wq: [1, 2, 3, 4], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } }).snapshot();
    const posted = bytes.slice();
    const file = readSafetensors(posted);
    structuredClone(posted.buffer, { transfer: [posted.buffer] });
    expect(() => file.read('weights.wq')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'bytes' }, message: expect.stringContaining('detached') }));
    const memory = new WebAssembly.Memory({ initial: 1 });
    new Uint8Array(memory.buffer).set(bytes);
    const inMemory = readSafetensors(new Uint8Array(memory.buffer, 0, bytes.length));
    memory.grow(1);
    expect(() => inMemory.read('weights.wq')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'bytes' } }));
    // A resizable buffer shrunk under a length-tracking view: the view itself is shorter now.
    const ResizableBuffer = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer & { resize(length: number): void };
    const resizable = new ResizableBuffer(bytes.length, { maxByteLength: bytes.length });
    new Uint8Array(resizable).set(bytes);
    const tracking = readSafetensors(new Uint8Array(resizable));
    resizable.resize(16);
    expect(() => tracking.read('weights.wq')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'bytes' }, message: expect.stringContaining('shrunk') }));
  });

  it("takes another realm's Uint8Array (a vm context's, an iframe's) as its own, as restore does", () => {
    // Found by an isolation hunt: instanceof Uint8Array refused it as "not a Uint8Array" (corrupt).
    const bytes = createAttention({ dim: 2, weights: { wq: [1, 2, 3, 4], wk: [1, 0, 0, 1], wv: [1, 0, 0, 1] } }).snapshot();
    const foreign = runInNewContext(`new Uint8Array(${bytes.length})`) as Uint8Array;
    expect(foreign instanceof Uint8Array).toBe(false);
    foreign.set(bytes);
    expect(Array.from(readSafetensors(foreign).read('weights.wq'))).toEqual([1, 2, 3, 4]);
    expect(restoreAttention(foreign).snapshot()).toEqual(bytes);
    expect(() => readSafetensors(runInNewContext('new Uint16Array(8)') as never)).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT' }));
  });

  it('refuses a dtype it does not convert, and a name the file does not hold', () => {
    const opened = readSafetensors(file);
    expect(() => opened.read('position_ids')).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_SNAPSHOT', details: { field: 'dtype', actual: 'I64' } }));
    expect(() => opened.read('missing')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'name' } }));
  });

  it("opens a shard whatever newer dtypes its other tensors hold (MXFP4's F8_E8M0 scales, F4, F6, C64), refusing only their read", () => {
    // Found by a bug hunt: the file itself was refused as corrupt, so no tensor of it could be read.
    for (const [dtype, shape, bytes] of [['F8_E8M0', [4], 4], ['F8_E4M3FNUZ', [4], 4], ['F8_E5M2FNUZ', [4], 4], ['F4', [2, 4], 4], ['F6_E2M3', [4], 3], ['F6_E3M2', [4], 3], ['C64', [2], 16]] as const) {
      const header = JSON.stringify({ 'q.weight': { dtype: 'BF16', shape: [2], data_offsets: [0, 4] }, 'q.scale': { dtype, shape, data_offsets: [4, 4 + bytes] } });
      const data = new Uint8Array(4 + bytes);
      data.set([0x80, 0x3f, 0x00, 0xc0]); // BF16 1 and −2
      const opened = readSafetensors(fileWith(header, data));
      expect(Array.from(opened.read('q.weight')), dtype).toEqual([1, -2]);
      expect(() => opened.read('q.scale')).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_SNAPSHOT', details: { field: 'dtype', actual: dtype } }));
    }
    // A packed float whose elements do not fill whole bytes is malformed.
    expect(() => readSafetensors(fileWith(JSON.stringify({ odd: { dtype: 'F4', shape: [3], data_offsets: [0, 2] } }), new Uint8Array(2)))).toThrow(
      expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', message: expect.stringContaining('needs 1.5 bytes') }),
    );
  });

  it('takes an empty tensor with its zero anywhere in the shape, and lists tensors in the order of their data', () => {
    // Found by a bug hunt: [1, 0] "needed more bytes than the file holds"; integer-like names came first.
    for (const shape of [[0, 1], [1, 0], [2 ** 52, 0]]) {
      expect(readSafetensors(fileWith(JSON.stringify({ e: { dtype: 'F32', shape, data_offsets: [0, 0] } }))).read('e')).toHaveLength(0);
    }
    const header = JSON.stringify({ b: { dtype: 'I8', shape: [1], data_offsets: [0, 1] }, '1': { dtype: 'I8', shape: [1], data_offsets: [1, 2] } });
    expect(readSafetensors(fileWith(header, new Uint8Array(2))).tensors.map((t) => t.name)).toEqual(['b', '1']);
    // An empty tensor at the offset a full one starts from, under a name JSON.parse puts first: no overlap.
    const shared = JSON.stringify({ a: { dtype: 'F32', shape: [0], data_offsets: [0, 0] }, '0': { dtype: 'F16', shape: [1], data_offsets: [0, 2] } });
    expect(readSafetensors(fileWith(shared, new Uint8Array(2))).tensors.map((t) => t.name)).toEqual(['a', '0']);
  });

  it('reads from a Node Buffer that is a view into a pooled buffer, and a snapshot the engine wrote', () => {
    const pooled = Buffer.from(file);
    const opened = readSafetensors(pooled);
    expect(Array.from(opened.read('codes'))).toEqual([-128, 127]);
    const engine = createAttention({ dim: 2 });
    engine.push([1, 2]);
    const snapshot = readSafetensors(engine.snapshot());
    expect(Array.from(snapshot.read('keys'))).toEqual([1, 2]);
    expect(snapshot.metadata['format']).toBe('attnstream.attention');
  });

  it("feeds the engine: a checkpoint's F16 projection as wq/wk/wv equals the same numbers given as float32", () => {
    const w = readSafetensors(file).read('model.layers.0.self_attn.q_proj.weight');
    // The fixture's 3×4 matrix holds infinities; a finite 2×2 cut of it as a stand-in projection.
    const square = Float32Array.of(w[2]!, w[3]!, w[9]!, w[10]!);
    const fromFile = createAttention({ dim: 2, weights: { wq: square, wk: square, wv: square } }).push([0.5, 1])[0]!.output;
    const given = createAttention({ dim: 2, weights: { wq: [1, -2.5, 0.0999755859375, -3.140625], wk: [1, -2.5, 0.0999755859375, -3.140625], wv: [1, -2.5, 0.0999755859375, -3.140625] } }).push([0.5, 1])[0]!.output;
    expect(fromFile).toEqual(given);
  });

  it('refuses a malformed file before reading it, saying what is wrong (CORRUPT_SNAPSHOT, field bytes)', () => {
    const refused = (bytes: unknown, message: RegExp) =>
      expect(() => readSafetensors(bytes as Uint8Array)).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', details: { field: 'bytes' }, message: expect.stringMatching(message) }));
    refused([1, 2, 3], /expected the safetensors file as a Uint8Array/);
    refused(file.subarray(0, 5), /shorter than the 8-byte header length/);
    refused(file.subarray(0, 40), /runs past the end/);
    refused(fileWith('{"a": {"dtype": "X16", "shape": [1], "data_offsets": [0, 2]}}', new Uint8Array(2)), /unsupported dtype "X16"/);
    refused(fileWith('{"a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 2]}}', new Uint8Array(4)), /needs 4 bytes, its offsets give 2/);
    refused(
      fileWith('{"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}, "b": {"dtype": "I8", "shape": [2], "data_offsets": [2, 4]}}', new Uint8Array(4)),
      /overlap/,
    );
    refused(fileWith('{"__proto__": {}}'), /not allowed/);
    // Data bytes no tensor owns, as the format's reference reader refuses them: a gap, a leading
    // stretch, trailing bytes, and a duplicated key (JSON.parse keeps the last) replacing a tensor.
    const i8 = (at: number) => `{"dtype": "I8", "shape": [1], "data_offsets": [${at}, ${at + 1}]}`;
    refused(fileWith(`{"a": ${i8(0)}, "b": ${i8(2)}}`, new Uint8Array(3)), /data bytes \[1, 2\) before tensor "b" belong to no tensor/);
    refused(fileWith(`{"a": ${i8(1)}}`, new Uint8Array(2)), /data bytes \[0, 1\) before tensor "a" belong to no tensor/);
    refused(fileWith(`{"a": ${i8(0)}}`, new Uint8Array(3)), /the last 2 data bytes belong to no tensor/);
    refused(fileWith(`{"a": ${i8(0)}, "b": ${i8(1)}, "a": ${i8(2)}}`, new Uint8Array(3)), /data bytes \[0, 1\) before tensor "b" belong to no tensor/);
    refused(fileWith('[1, 2]'), /not a JSON object/);
  });

  it('while snapshots still refuse a dtype the engine never writes, though the format defines it', () => {
    const withHalf = fileWith('{"keys": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}', new Uint8Array(2));
    expect(Array.from(readSafetensors(withHalf).read('keys'))).toEqual([0]);
    expect(() => decodeSafetensors(withHalf)).toThrow(expect.objectContaining({ code: 'CORRUPT_SNAPSHOT', details: { field: 'snapshot' }, message: 'snapshot: tensor "keys" has unsupported dtype "F16"' }));
  });
});
