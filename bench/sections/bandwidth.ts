import type { LineProtocolChild } from '../impls/line-protocol-child.js';

export interface BandwidthResult {
  /** Best GB/s of summing a Float64Array in JavaScript, one thread. */
  readonly javascript: number;
  /** The same in C (vectorised), when the reference was built. */
  readonly native: number | null;
  readonly mib: number;
}

/** Single-threaded read bandwidth: the floor of a memory-bound step is its cache bytes over this. */
export async function runBandwidth(mib: number, native: LineProtocolChild | null): Promise<BandwidthResult> {
  const a = new Float64Array((mib * 1024 * 1024) / 8);
  for (let i = 0; i < a.length; i++) a[i] = i & 1023;
  let best = 0;
  let checksum = 0;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let i = 0; i < a.length; i += 4) {
      s0 += a[i]!;
      s1 += a[i + 1]!;
      s2 += a[i + 2]!;
      s3 += a[i + 3]!;
    }
    const seconds = (performance.now() - t0) / 1000;
    checksum += s0 + s1 + s2 + s3;
    best = Math.max(best, (a.length * 8) / seconds / 1e9);
  }
  if (!Number.isFinite(checksum)) throw new Error('bandwidth probe: bad checksum');
  const reply = native === null ? null : await native.request(`bandwidth ${mib}`);
  return { javascript: best, native: reply === null ? null : (reply.gbPerSecond as number), mib };
}
