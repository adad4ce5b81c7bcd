// attnstream/threads' browser pool (src/threads/browser.ts, Web Workers) in Debian's headless
// Chromium, on a cross-origin-isolated page.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHROMIUM, openInChromium } from './support/open-in-chromium.js';

const CONFIG = fileURLToPath(new URL('threads-page/vite.config.ts', import.meta.url));

describe.runIf(existsSync(CHROMIUM))('attnstream/threads in headless Chromium', () => {
  it("splits each step with a Web Worker, bit for bit one thread's results (bfloat16 and binary16 weights too)", async () => {
    const opened = await openInChromium(CONFIG);
    try {
      await opened.page.waitForSelector('body[data-result]', { state: 'attached', timeout: 60_000 });
      const result = JSON.parse((await opened.page.getAttribute('body', 'data-result'))!);
      expect(result).toEqual({ isolated: true, threads: 2, closed: false, steps: 1400, same: true, shared: true, halves: true });
      expect(opened.errors).toEqual([]);
    } finally {
      await opened.close();
    }
  }, 120_000);

  it('under a Content-Security-Policy that forbids blob: workers, the pool is refused saying so', async () => {
    // Found by an isolation hunt: "worker 0 failed to start: unknown error".
    const opened = await openInChromium(fileURLToPath(new URL('threads-page/csp.vite.config.ts', import.meta.url)));
    try {
      await opened.page.waitForSelector('body[data-result]', { state: 'attached', timeout: 60_000 });
      const result = JSON.parse((await opened.page.getAttribute('body', 'data-result'))!);
      expect(result.error).toContain('worker 0 failed to start');
      expect(result.error).toContain("worker-src 'self' blob:");
    } finally {
      await opened.close();
    }
  }, 120_000);
});
