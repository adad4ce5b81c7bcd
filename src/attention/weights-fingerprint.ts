import { WEIGHT_NAMES } from './options.js';
import type { ResolvedOptions } from './options.js';

/** Entries of each weight tensor a fingerprint reads, evenly spaced, the first and last included. */
const SAMPLES = 1024;

/** Fingerprints and digests already taken: weights never change, and reading an arena-held matrix copies it. */
const fingerprints = new WeakMap<ResolvedOptions, string>();
const digests = new WeakMap<ResolvedOptions, string>();

/**
 * A short fingerprint of `o`'s weights (16 hex digits): FNV-1a over each weight's name, length and
 * the bits of up to 1,024 evenly spaced entries. Cheap, so the kernels' shared copies are looked
 * up by it; a snapshot saved without its weights records it too (and {@link weightsDigest}), so
 * that restoring it with another model's weights is refused rather than continued with the wrong
 * model. Two weights differing only between samples agree: files that record only this (written
 * before the digest) are checked no further.
 */
export function weightsFingerprint(o: ResolvedOptions): string {
  return cached(fingerprints, o, SAMPLES);
}

/**
 * {@link weightsFingerprint} over every entry: what a snapshot saved without its weights records
 * to tell its model's weights from any other's, one entry apart included (a fuzz of restores onto
 * wrong models found one changed entry between the samples accepted). About 2 ms a 4 MB layer,
 * once per options object. A guard against mistakes, not against a forger.
 */
export function weightsDigest(o: ResolvedOptions): string {
  return cached(digests, o, Infinity);
}

function cached(store: WeakMap<ResolvedOptions, string>, o: ResolvedOptions, samples: number): string {
  const known = store.get(o);
  if (known !== undefined) return known;
  const hash = hashWeights(o, samples);
  store.set(o, hash);
  return hash;
}

/** FNV-1a over each weight's name, length and the bits of up to `samples` evenly spaced entries. */
function hashWeights(o: ResolvedOptions, samples: number): string {
  // Two 32-bit FNV-1a lanes with different offsets: 64 bits, so unrelated weights collide ~never.
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  const mix = (word: number): void => {
    a = Math.imul(a ^ word, 0x01000193) >>> 0;
    b = Math.imul(b ^ word ^ (a >>> 7), 0x01000193) >>> 0;
  };
  for (const name of WEIGHT_NAMES) {
    const w = o.weights?.[name] ?? null;
    if (w === null) continue;
    for (let c = 0; c < name.length; c++) mix(name.charCodeAt(c));
    mix(w.length);
    const words = new Uint32Array(w.buffer, w.byteOffset, w.byteLength / 4);
    const perEntry = w.BYTES_PER_ELEMENT / 4;
    const count = Math.min(samples, w.length);
    for (let s = 0; s < count; s++) {
      const entry = count === 1 ? 0 : Math.round((s * (w.length - 1)) / (count - 1));
      // −0 and +0 are one weight (the full check compares them equal; a JSON round trip loses the sign).
      for (let k = 0; k < perEntry; k++) mix(w[entry] === 0 ? 0 : words[entry * perEntry + k]!);
    }
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}
