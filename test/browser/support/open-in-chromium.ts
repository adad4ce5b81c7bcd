// Builds a Vite page, serves it on 127.0.0.1 with Vite's preview server and opens it in Debian's
// headless Chromium through playwright-core (`npx playwright install` cannot run here).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Page } from 'playwright-core';
import { build, preview } from 'vite';

export const CHROMIUM = '/usr/bin/chromium';

export interface OpenPage {
  readonly page: Page;
  /** Uncaught errors the page threw so far. */
  readonly errors: string[];
  close(): Promise<void>;
}

/** The page Vite builds from `configFile`, loaded in a fresh browser profile. */
export async function openInChromium(configFile: string): Promise<OpenPage> {
  const temp = mkdtempSync(join(tmpdir(), 'attnstream-browser-'));
  const outDir = join(temp, 'dist');
  await build({ configFile, logLevel: 'error', build: { outDir } });
  const port = await freePort();
  const server = await preview({ configFile, logLevel: 'error', build: { outDir }, preview: { host: '127.0.0.1', port, strictPort: true } });
  // A fresh profile per run: launchPersistentContext is how playwright takes a user-data-dir.
  const browser = await chromium.launchPersistentContext(join(temp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    viewport: { width: 1200, height: 800 },
  });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  return {
    page,
    errors,
    async close() {
      await browser.close();
      await server.close();
      rmSync(temp, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
