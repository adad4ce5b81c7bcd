import { describe, expect, it } from 'vitest';
import { runSoak } from '../scripts/soak.js';

// The CI-sized soak; `npm run soak` runs the same function over 1,000,000 tokens.
describe('soak through the attend operator (dim 64, window 512, sinks 4)', () => {
  it('150,000 tokens: flat cache bytes, outputs equal the batch reference at every sample, everything released at the end', async () => {
    const report = await runSoak({ tokens: 150_000, sampleEvery: 25_000 });
    expect(report.samples).toBe(6);
    expect(report.bytes.length).toBeGreaterThanOrEqual(5);
    expect(new Set(report.bytes).size).toBe(1);
    expect(report.maxError).toBeLessThanOrEqual(1e-12);
    expect(report.evictions).toBeGreaterThan(2000);
    expect(report).toMatchObject({ disposed: true, eventsClosed: true, subscriptionsOpened: 1, subscriptionsOpen: 0 });
  }, 600_000);
});
