import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../src/cache/crc32.js';

describe('crc32', () => {
  it("is CRC-32's check value on 123456789, and 0 on nothing", () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it("equals Node's zlib.crc32 on any bytes at any offset and length, continued from any split", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(7), fc.nat(), (data, offset, cut) => {
        // Offsets 0–7 into a larger buffer: aligned and unaligned starts for the word loop.
        const buffer = new Uint8Array(offset + data.length);
        buffer.set(data, offset);
        const bytes = buffer.subarray(offset);
        expect(crc32(bytes)).toBe(zlibCrc32(bytes));
        const k = data.length === 0 ? 0 : cut % (data.length + 1);
        expect(crc32(bytes.subarray(k), crc32(bytes.subarray(0, k)))).toBe(zlibCrc32(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('reads shared memory and large inputs as zlib does', () => {
    const shared = new Uint8Array(new SharedArrayBuffer(1 << 20));
    for (let i = 0; i < shared.length; i++) shared[i] = (i * 2654435761) >>> 24;
    expect(crc32(shared.subarray(3))).toBe(zlibCrc32(shared.slice(3)));
  });
});
