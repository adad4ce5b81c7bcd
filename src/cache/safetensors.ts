import { AttentionError, describeValue, quoted } from '../errors.js';
import { decodeUtf8, isUint8Array } from './caller-bytes.js';
import { crc32 } from './crc32.js';

// The text codecs exist in every browser and in Node, but the core compiles against plain ES2022
// (no DOM, no Node types) so that nothing else from those environments slips in.
declare const TextEncoder: new () => { encode(text: string): Uint8Array };

/** Element types attnstream reads and writes, by their safetensors names. */
export type TensorDtype = 'F64' | 'F32' | 'I32' | 'I8';

const BYTES: Record<TensorDtype, number> = { F64: 8, F32: 4, I32: 4, I8: 1 };

/** A tensor to write: its elements in row-major order. */
export interface TensorInput {
  readonly dtype: TensorDtype;
  readonly shape: readonly number[];
  readonly data: Float64Array | Float32Array | Int32Array | Int8Array;
}

/** A tensor read back: `data` is a fresh, aligned copy. */
export interface Tensor {
  readonly dtype: TensorDtype;
  readonly shape: readonly number[];
  readonly data: Float64Array | Float32Array | Int32Array | Int8Array;
}

/** The largest JSON header accepted: real headers are a few kilobytes. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * The last tensor of every snapshot: I32 of shape [1], the CRC-32 ({@link crc32}, zlib's) of every
 * byte of the file before it, so that the file's last four bytes check all the others. Readers
 * that do not know it (builds before it) ignore it as an extra tensor.
 */
export const CHECKSUM_TENSOR = 'checksum';

/**
 * Writes a snapshot's tensors in the safetensors format: an 8-byte little-endian header length, a
 * JSON header giving each tensor's dtype, shape and `data_offsets` (plus string `__metadata__`),
 * then the raw little-endian data, ending with {@link CHECKSUM_TENSOR}. Python's
 * `safetensors.numpy.load` opens the result.
 *
 * @throws AttentionError OUT_OF_RANGE (`field: "snapshot"`) when the header would pass the 16 MiB
 *   {@link parseSafetensors} reads, before anything is written: the file could not be restored.
 */
export function encodeSafetensors(tensors: Readonly<Record<string, TensorInput>>, metadata: Readonly<Record<string, string>>): ReturnType<Uint8Array['slice']> {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name]!;
    const size = t.data.length * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  header[CHECKSUM_TENSOR] = { dtype: 'I32', shape: [1], data_offsets: [offset, offset + 4] };
  offset += 4;
  let json = new TextEncoder().encode(JSON.stringify(header));
  // The spec lets the header be padded with spaces; 8-byte alignment keeps the data aligned for readers that map it.
  const padded = Math.ceil(json.length / 8) * 8;
  // A reader takes at most this much header (a hostile file's could be gigabytes): a file past it
  // would be refused as corrupt by the restore it was written for.
  if (padded > MAX_HEADER_BYTES) {
    throw new AttentionError(
      'OUT_OF_RANGE',
      `snapshot: its header would take ${padded} bytes, past the ${MAX_HEADER_BYTES} a restore reads (options such as one sink logit per head, a stack's layers, and metadata fill it); nothing was written`,
      { field: 'snapshot', expected: `0..${MAX_HEADER_BYTES}`, actual: padded },
    );
  }
  if (padded !== json.length) {
    const spaced = new Uint8Array(padded).fill(0x20);
    spaced.set(json);
    json = spaced;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  view.setUint32(4, 0, true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const name of names) {
    const t = tensors[name]!;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  view.setUint32(at, crc32(out.subarray(0, at)), true);
  return out;
}

/**
 * Bytes per element of every dtype the safetensors format defines (the packed 4- and 6-bit floats
 * a fraction of one, as the format counts them): a checkpoint's header is checked whatever its
 * tensors hold, even where a reader converts only some of them, so a shard's MXFP4 scales do not
 * keep its other tensors from being read.
 */
export const FORMAT_BYTES: Readonly<Record<string, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1, F8_E4M3FNUZ: 1, F8_E5M2FNUZ: 1, F8_E8M0: 1,
  F6_E2M3: 0.75, F6_E3M2: 0.75, F4: 0.5, C64: 8,
  I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

/** One tensor of a parsed safetensors header: its dtype and shape, and where its bytes lie in the file. */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Byte offset of its first byte in the file, and its byte length. */
  readonly at: number;
  readonly bytes: number;
}

/**
 * A safetensors file's header, checked before anything is allocated for it: a header length
 * beyond the file or 16 MiB, invalid JSON, forbidden keys, dtypes the format does not define,
 * shapes whose size disagrees with their offsets, offsets out of range, overlapping or leaving
 * data bytes to no tensor. Tensors in
 * the order of their data in the file; `what` names the file in messages ("snapshot", "safetensors file"), `dtypes`
 * gives the bytes per element of the dtypes it may hold (others are refused).
 *
 * @throws AttentionError CORRUPT_SNAPSHOT saying what was wrong and where.
 */
export function parseSafetensors(
  bytes: Uint8Array,
  what: string,
  dtypes: Readonly<Record<string, number>>,
): { entries: TensorEntry[]; metadata: Record<string, string> } {
  const corrupt: (message: string) => never = (message) => {
    throw new AttentionError('CORRUPT_SNAPSHOT', `${what}: ${message}`, { field: what === 'snapshot' ? 'snapshot' : 'bytes' });
  };
  if (!isUint8Array(bytes)) corrupt(`expected the ${what} as a Uint8Array`);
  if (bytes.length < 8) corrupt(`${bytes.length} bytes is shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  if (high !== 0 || low > MAX_HEADER_BYTES) corrupt(`header length ${high * 2 ** 32 + low} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (8 + low > bytes.length) corrupt(`header length ${low} runs past the end of the ${bytes.length}-byte file`);
  let header: unknown;
  try {
    header = JSON.parse(decodeUtf8(bytes.subarray(8, 8 + low)));
  } catch (e) {
    corrupt(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isRecord(header)) corrupt('header is not a JSON object');
  const dataStart = 8 + low;
  const dataLength = bytes.length - dataStart;
  const metadata = readMetadata(header['__metadata__'], corrupt);
  const entries: TensorEntry[] = [];
  for (const name of Object.keys(header)) {
    if (FORBIDDEN_KEYS.has(name)) corrupt(`header key "${name}" is not allowed`);
    if (name === '__metadata__') continue;
    // Quoted only for a message: a hostile header's hundreds of thousands of names made it a third of the time to refuse.
    const named = (): string => quoted(name);
    const entry = header[name];
    if (!isRecord(entry)) corrupt(`tensor ${named()} is not an object`);
    for (const key of Object.keys(entry)) if (FORBIDDEN_KEYS.has(key)) corrupt(`tensor ${named()} has a forbidden key "${key}"`);
    const dtype = entry['dtype'];
    if (typeof dtype !== 'string' || !Object.hasOwn(dtypes, dtype)) corrupt(`tensor ${named()} has unsupported dtype ${typeof dtype === 'string' ? quoted(dtype) : describeValue(dtype)}`);
    const shape = entry['shape'];
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) corrupt(`tensor ${named()} has an invalid shape`);
    const offsets = entry['data_offsets'];
    if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || o < 0)) {
      corrupt(`tensor ${named()} has invalid data_offsets`);
    }
    const [start, end] = offsets as [number, number];
    if (start > end || end > dataLength) corrupt(`tensor ${named()} data_offsets [${start}, ${end}] fall outside the ${dataLength} data bytes`);
    const size = dtypes[dtype as string]!;
    // A zero anywhere in the shape makes the tensor empty, however large the dimensions before it.
    let elements = (shape as number[]).includes(0) ? 0 : 1;
    for (const d of elements === 0 ? [] : (shape as number[])) {
      elements *= d;
      if (elements * size > dataLength) corrupt(`tensor ${named()} shape ${shapeText(shape as number[])} needs more bytes than the file holds`);
    }
    if (elements * size !== end - start) corrupt(`tensor ${named()} shape ${shapeText(shape as number[])} needs ${elements * size} bytes, its offsets give ${end - start}`);
    entries.push({ name, dtype: dtype as string, shape: shape as number[], at: dataStart + start, bytes: end - start });
  }
  // In the order of their data: JSON.parse puts integer-like names first, so the header's own
  // order is lost, and the data's is what a writer laid out (an empty tensor before a full one at
  // the same offset, so that the two do not look like they overlap).
  entries.sort((a, b) => a.at - b.at || a.bytes - b.bytes);
  // The data must be exactly the tensors', end to end, as the format's reference reader demands:
  // a gap is bytes a writer lost track of (or a tensor a duplicated header key replaced).
  let next = dataStart;
  for (let n = 0; n < entries.length; n++) {
    const { name, at, bytes: size } = entries[n]!;
    if (at < next) corrupt(`tensors ${quoted(entries[n - 1]!.name)} and ${quoted(name)} overlap`);
    if (at > next) corrupt(`data bytes [${next - dataStart}, ${at - dataStart}) before tensor ${quoted(name)} belong to no tensor`);
    next = at + size;
  }
  if (next !== bytes.length) corrupt(`the last ${bytes.length - next} data bytes belong to no tensor`);
  return { entries, metadata };
}

/**
 * Reads a snapshot's safetensors file ({@link parseSafetensors}'s checks, attnstream's own four
 * dtypes), every tensor but {@link CHECKSUM_TENSOR} copied out as its typed array. A file that
 * ends with a checksum must match it, before anything is copied; files written before checksums
 * have none, and are read unchecked. `accept` (which throws to refuse) sees the metadata and the
 * tensors' names before anything is copied: a file of another format, or with names no snapshot
 * has, is refused without a copy of its tensors (a hostile header's hundreds of thousands).
 *
 * @throws AttentionError CORRUPT_SNAPSHOT saying what was wrong and where.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  accept: (metadata: Readonly<Record<string, string>>, names: readonly string[]) => void = () => {},
): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const { entries, metadata } = checkedSnapshot(bytes);
  accept(metadata, tensorNames(entries));
  const tensors = new Map<string, Tensor>();
  for (const { name, dtype, shape, at, bytes: size } of entries) {
    if (name === CHECKSUM_TENSOR) continue;
    // A fresh copy of exactly the tensor's bytes (a Node Buffer's slice() is a view into a pooled buffer).
    const copy = new Uint8Array(bytes.subarray(at, at + size)).buffer;
    tensors.set(name, { dtype: dtype as TensorDtype, shape, data: typed(dtype as TensorDtype, copy) });
  }
  return { tensors, metadata };
}

/** The names of a file's tensors but its checksum: the snapshot's own. */
export function tensorNames(entries: readonly TensorEntry[]): string[] {
  return entries.map((entry) => entry.name).filter((name) => name !== CHECKSUM_TENSOR);
}

/**
 * A snapshot's header ({@link parseSafetensors}' checks, attnstream's own four dtypes), its
 * checksum matched when it has one; nothing copied.
 *
 * @throws AttentionError CORRUPT_SNAPSHOT saying what was wrong and where.
 */
export function checkedSnapshot(bytes: Uint8Array): { entries: TensorEntry[]; metadata: Record<string, string> } {
  const parsed = parseSafetensors(bytes, 'snapshot', BYTES);
  const checksum = parsed.entries.find((entry) => entry.name === CHECKSUM_TENSOR);
  if (checksum !== undefined) assertChecksum(bytes, checksum, parsed.entries[parsed.entries.length - 1]!);
  return parsed;
}

function assertChecksum(bytes: Uint8Array, checksum: TensorEntry, last: TensorEntry): void {
  const corrupt = (message: string): never => {
    throw new AttentionError('CORRUPT_SNAPSHOT', `snapshot: ${message}`, { field: 'snapshot' });
  };
  if (checksum !== last || checksum.dtype !== 'I32' || checksum.shape.length !== 1 || checksum.shape[0] !== 1) corrupt(`tensor "${CHECKSUM_TENSOR}" must be the file's last, I32 of shape [1]`);
  const end = bytes.length - 4;
  const stored = new DataView(bytes.buffer, bytes.byteOffset + end, 4).getUint32(0, true);
  const computed = crc32(bytes.subarray(0, end));
  if (stored !== computed) {
    const hex = (crc: number): string => crc.toString(16).padStart(8, '0');
    corrupt(`the bytes are not those written: their CRC-32 is ${hex(computed)}, the file's checksum says ${hex(stored)}`);
  }
}

/** Whether `dtype` is one of attnstream's own four. */
export function isTensorDtype(dtype: string): dtype is TensorDtype {
  return Object.hasOwn(BYTES, dtype);
}

/** The typed array of `dtype` over `buffer`. */
export function typed(dtype: TensorDtype, buffer: ArrayBuffer): Tensor['data'] {
  switch (dtype) {
    case 'F64':
      return new Float64Array(buffer);
    case 'F32':
      return new Float32Array(buffer);
    case 'I32':
      return new Int32Array(buffer);
    case 'I8':
      return new Int8Array(buffer);
  }
}

function readMetadata(value: unknown, corrupt: (message: string) => never): Record<string, string> {
  if (value === undefined) return {};
  if (!isRecord(value)) corrupt('__metadata__ is not an object');
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  // Object.keys, not Object.entries: an array a key would cost twice the time on a hostile header's half a million keys.
  for (const key of Object.keys(value)) {
    const v = value[key];
    if (FORBIDDEN_KEYS.has(key)) corrupt(`__metadata__ key "${key}" is not allowed`);
    if (typeof v !== 'string') corrupt(`__metadata__ value ${quoted(key)} is not a string`);
    out[key] = v;
  }
  return out;
}

/** A shape as a message shows it: `[5, 2, 1]`, or its first eight sizes and how many there are. */
function shapeText(shape: readonly number[]): string {
  return shape.length <= 8 ? `[${shape.join(', ')}]` : `[${shape.slice(0, 8).join(', ')}, … (${shape.length} sizes)]`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
