import { TYPED_ARRAY_PROTOTYPE } from '../errors.js';
// Present in browsers and Node; declared because the core compiles against plain ES2022.
declare const TextDecoder: new (label: string, options: { fatal: boolean; ignoreBOM: boolean }) => { decode(bytes: Uint8Array): string };

/** `%TypedArray%.prototype[Symbol.toStringTag]`'s getter: the kind of any realm's typed array, undefined for anything else. */
const typedArrayTag = Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, Symbol.toStringTag)!.get!;

/**
 * Whether `value` is a Uint8Array of any realm, a Node Buffer included: one made in an iframe or a
 * `vm` context fails `instanceof Uint8Array` here, though it holds the same bytes.
 */
export function isUint8Array(value: unknown): value is Uint8Array {
  return typedArrayTag.call(value) === 'Uint8Array';
}

/**
 * `bytes` decoded as strict UTF-8 (a malformed sequence throws a TypeError), copied out first when
 * they sit in shared memory: browsers' TextDecoder refuses a view of a SharedArrayBuffer, as
 * snapshots or tables shared between workers are.
 */
export function decodeUtf8(bytes: Uint8Array, ignoreBOM = false): string {
  const own = bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice();
  return new TextDecoder('utf-8', { fatal: true, ignoreBOM }).decode(own);
}
