// The browser page (examples/browser) in Debian's headless Chromium, driven by playwright-core:
// built and served with Vite's API on 127.0.0.1, then typed into like a person would.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, openInChromium } from './support/open-in-chromium.js';
import type { OpenPage } from './support/open-in-chromium.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PAGE = join(ROOT, 'examples', 'browser');
const SENTENCE = 'The dog ran around the park because it was excited';

if (!existsSync(CHROMIUM)) {
  console.warn(`test/browser skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`);
}

describe.runIf(existsSync(CHROMIUM))('examples/browser in headless Chromium', () => {
  let opened: OpenPage;
  let page: Page;

  beforeAll(async () => {
    opened = await openInChromium(join(PAGE, 'vite.config.ts'));
    page = opened.page;
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    expect(opened.errors).toEqual([]);
  }, 120_000);

  afterAll(async () => {
    await opened?.close();
  });

  /** Each row's word and the weights of its cells, read from the DOM. */
  const readRows = (on: Page = page): Promise<{ word: string; weights: number[] }[]> =>
    on.$$eval('#rows .row', (rows) =>
      rows.map((row) => ({
        word: (row as HTMLElement).dataset.word!,
        weights: Array.from(row.querySelectorAll<HTMLElement>('.cell[data-weight]'), (c) => Number(c.dataset.weight)),
      })),
    );
  /** A number the page writes on #status as `data-<name>`. */
  const statusCount = (name: string): Promise<number> => page.$eval('#status', (s, key) => Number((s as HTMLElement).dataset[key]), name);
  const settle = (rows: number, on: Page = page): Promise<unknown> => on.waitForFunction((n) => document.getElementById('status')!.dataset.rows === String(n) && document.querySelectorAll('#rows .row').length === n, rows);

  /**
   * Runs `test` on the page in a new tab opened at `hash`, once ready, with the uncaught errors and
   * console errors it reports; closes the tab after.
   */
  const inTab = async (hash: string, test: (tab: Page, errors: string[]) => Promise<void>): Promise<void> => {
    const tab = await page.context().newPage();
    try {
      const errors: string[] = [];
      tab.on('pageerror', (error) => errors.push(error.message));
      tab.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      await tab.goto(`${page.url().split('#')[0]}${hash}`);
      await tab.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
      await test(tab, errors);
    } finally {
      await tab.close();
    }
  };
  /** A tab's text, settings, and each heatmap row's word and count of weighted cells. */
  const view = async (tab: Page) => {
    const rows = await readRows(tab);
    return {
      text: await tab.$eval('#text', (t) => (t as HTMLTextAreaElement).value),
      heads: await tab.$eval('#heads', (s) => (s as HTMLSelectElement).value),
      window: await tab.$eval('#window', (s) => (s as HTMLSelectElement).value),
      words: rows.map((r) => r.word),
      cells: rows.map((r) => r.weights.length),
    };
  };
  /** The parameters in a tab's URL hash. */
  const hashed = (tab: Page): Promise<Record<string, string>> => tab.evaluate(() => Object.fromEntries(new URLSearchParams(location.hash.slice(1))));
  // Characters a hash must encode (& + % # ?) and non-ASCII ones.
  const EDITED = 'café & crème + 50% #1?';

  it('typing a sentence gives one heatmap row per word, each row’s weights summing to 1', async () => {
    await page.fill('#text', '');
    await page.click('#text');
    await page.keyboard.type(SENTENCE);
    const words = SENTENCE.split(' ');
    await settle(words.length);
    const rows = await readRows();
    expect(rows.map((r) => r.word)).toEqual(words);
    rows.forEach((row, i) => {
      expect(row.weights.length).toBe(i + 1);
      expect(Math.abs(row.weights.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-3);
    });
    // Each keystroke that changes only the last word keeps every earlier row.
    expect(await page.$eval('#status', (s) => Number((s as HTMLElement).dataset.truncations))).toBeGreaterThan(0);
    mkdirSync(join(ROOT, 'out'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'out', 'browser-page.png'), fullPage: true });
  });

  it('an edit keeps the rows before the changed word, truncates the cache there and recomputes only the rest', async () => {
    // Tag the row elements now on the page, edit, and see which survive.
    const tag = (): Promise<void> => page.$$eval('#rows .row', (rows) => rows.forEach((r) => ((r as HTMLElement & { kept?: boolean }).kept = true)));
    const survivors = (): Promise<boolean[]> => page.$$eval('#rows .row', (rows) => rows.map((r) => (r as HTMLElement & { kept?: boolean }).kept === true));
    const counts = () => page.$eval('#status', (s) => ({ kept: Number((s as HTMLElement).dataset.kept), pushed: Number((s as HTMLElement).dataset.pushed) }));
    // Rows come from steps that the attend operator emits (data-steps counts them), out of the
    // one engine its factory made: an edit rolls that engine back instead of making another.
    const engines = await statusCount('engines');
    let steps = await statusCount('steps');
    expect(engines).toBeGreaterThanOrEqual(1);
    expect(steps).toBeGreaterThanOrEqual(SENTENCE.split(' ').length);

    await tag();
    await page.fill('#text', SENTENCE.replace('excited', 'open'));
    await settle(10);
    expect(await survivors()).toEqual([...Array(9).fill(true), false]);
    expect(await counts()).toEqual({ kept: 9, pushed: 1 });
    expect((await statusCount('steps')) - steps).toBe(1);
    steps += 1;
    expect((await readRows())[9]!.word).toBe('open');

    await tag();
    await page.fill('#text', SENTENCE.replace('excited', 'open').replace('dog', 'cat'));
    await settle(10);
    expect(await survivors()).toEqual([true, ...Array(9).fill(false)]);
    expect(await counts()).toEqual({ kept: 1, pushed: 9 });
    expect((await statusCount('steps')) - steps).toBe(9);
    expect((await statusCount('engines')) - engines).toBe(0);
    const rows = await readRows();
    expect(rows[1]!.word).toBe('cat');
    for (const row of rows) expect(Math.abs(row.weights.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-3);
  });

  it('with a window, rows attend at most that many words, and an edit behind evicted keys starts over', async () => {
    await page.fill('#text', SENTENCE);
    const engines = await statusCount('engines');
    await page.selectOption('#window', '4');
    await settle(10);
    // New settings are a new subscription to attend, whose factory makes a windowed engine.
    expect((await statusCount('engines')) - engines).toBe(1);
    let rows = await readRows();
    expect(rows.map((r) => r.weights.length)).toEqual([1, 2, 3, 4, 4, 4, 4, 4, 4, 4]);
    // Keys are released a block (64 tokens) at a time, so in a short text they are all still
    // there and an edit is a plain truncate.
    const resets = () => page.$eval('#status', (s) => Number((s as HTMLElement).dataset.resets));
    await page.fill('#text', SENTENCE.replace('dog', 'cat'));
    await settle(10);
    rows = await readRows();
    expect(rows[1]!.word).toBe('cat');
    expect(await resets()).toBe(0);
    // 200 words: the first blocks are released, so rolling back to word 1 is refused (EVICTED)
    // and the page recomputes every row.
    const long = Array.from({ length: 20 }, () => SENTENCE).join(' ');
    await page.fill('#text', long);
    await settle(200);
    await page.fill('#text', long.replace('dog', 'cow'));
    await settle(200);
    expect(await resets()).toBe(1);
    // Starting over is resubscribing: attend disposes the old engine and its factory makes another.
    expect((await statusCount('engines')) - engines).toBe(2);
    rows = await readRows();
    expect(rows[1]!.word).toBe('cow');
    for (const row of rows) {
      expect(row.weights.length).toBeLessThanOrEqual(4);
      expect(Math.abs(row.weights.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-3);
    }
    await page.selectOption('#window', '');
    await settle(200);
  });

  it('a long paste stays responsive: the page keeps running timers while 1,000 words stream in', async () => {
    const words = Array.from({ length: 1000 }, (_, i) => SENTENCE.split(' ')[i % 10]!);
    const { longest, total } = await page.evaluate(async (text) => {
      const area = document.getElementById('text') as HTMLTextAreaElement;
      const start = performance.now();
      let last = start;
      let longestGap = 0;
      const probe = setInterval(() => {
        const now = performance.now();
        longestGap = Math.max(longestGap, now - last);
        last = now;
      }, 5);
      area.value = text;
      area.dispatchEvent(new Event('input'));
      const status = document.getElementById('status')!;
      while (status.dataset.rows !== '1000') await new Promise((resolve) => setTimeout(resolve, 20));
      clearInterval(probe);
      // The stretch since the last tick counts too: a paste that blocked from start to end never lets the timer tick.
      const end = performance.now();
      return { longest: Math.max(longestGap, end - last), total: end - start };
    }, words.join(' '));
    // Pushed in slices of 16 tokens between yields, the timer keeps firing: a loop that did not
    // yield would hold it up for the whole computation. Relative to the total, so a slow or busy
    // machine does not fail it, with an absolute cap a person would still call responsive.
    expect(longest).toBeLessThan(Math.min(total / 4, 1000));
    const rows = await readRows();
    expect(rows.length).toBe(1000);
    for (const row of [rows[0]!, rows[100]!, rows[999]!]) expect(Math.abs(row.weights.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-3);
    expect(await page.$$eval('#rows .chunk:last-child .row:last-child .cell', (cells) => cells.length)).toBe(41);
    // Past 40 words the leading cell sums the earlier ones, shaded and numbered as any cell (it
    // was a blank grey "…" holding most of the weight).
    const rest = await page.$eval('#rows .chunk:last-child .row:last-child .cell.rest', (cell) => ({ text: cell.textContent!, weight: Number((cell as HTMLElement).dataset.weight), background: (cell as HTMLElement).style.background }));
    expect(rest.text).toMatch(/^…\.?\d/);
    expect(rest.weight).toBeGreaterThan(0.5);
    expect(rest.background).not.toBe('');
  });

  it('a word listed twice in a row\'s top 3 shows which, by its place in the text (a browser audit: "The 0.10 · the 0.10 · The 0.10")', async () => {
    await page.fill('#text', 'the dog saw the cat and the bird');
    await page.dispatchEvent('#text', 'input');
    await settle(8);
    const lists = await page.$$eval('#rows .row .top', (tops) =>
      tops.map((top) => Array.from(top.querySelectorAll('b'), (b) => ({ word: b.textContent!.toLowerCase(), place: b.nextElementSibling?.tagName === 'SUB' ? b.nextElementSibling.textContent : null }))),
    );
    let marked = 0;
    for (const list of lists) {
      for (const entry of list) {
        const twins = list.filter((other) => other.word === entry.word);
        expect(entry.place === null).toBe(twins.length === 1);
        if (entry.place !== null) {
          marked++;
          expect('the dog saw the cat and the bird'.split(' ')[Number(entry.place) - 1]).toBe(entry.word);
          expect(twins.filter((other) => other.place === entry.place)).toHaveLength(1);
        }
      }
    }
    expect(marked).toBeGreaterThan(0);
  });

  it('on a phone-wide screen every row is drawn whole, to be scrolled sideways, not cut at the box (a browser audit)', async () => {
    await page.setViewportSize({ width: 375, height: 667 });
    try {
      await page.fill('#text', `${SENTENCE} and then the dog slept`);
      await page.dispatchEvent('#text', 'input');
      await settle(15);
      // The chunks' containment clips what passes their box: each must hold its rows' top-3 lists,
      // and the heatmap must scroll as far as they reach.
      const overflow = await page.$$eval('#rows .row', (rows) =>
        rows.flatMap((row) => {
          const top = row.querySelector('.top')!.getBoundingClientRect();
          const chunk = row.parentElement!.getBoundingClientRect();
          const heatmap = document.getElementById('heatmap')!;
          const reach = top.right - heatmap.getBoundingClientRect().left + heatmap.scrollLeft;
          return top.right > chunk.right + 0.5 || reach > heatmap.scrollWidth + 0.5 ? [(row as HTMLElement).dataset.word] : [];
        }),
      );
      expect(overflow).toEqual([]);
      expect(await page.$eval('#heatmap', (h) => h.scrollWidth > h.clientWidth)).toBe(true);
    } finally {
      await page.setViewportSize({ width: 1200, height: 800 });
    }
  });

  it('says so when the word vectors cannot be loaded, and stays disabled (it waited on "loading" for ever: a browser audit)', async () => {
    const other = await page.context().newPage();
    try {
      await other.route('**/*.bin', (route) => route.fulfill({ status: 404, body: 'not here' }));
      await other.goto(page.url());
      await other.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('could not load the word vectors'));
      expect(await other.$eval('#status', (s) => s.textContent)).toMatch(/^could not load the word vectors: HTTP 404/);
      expect(await other.$eval('#text', (t) => (t as HTMLTextAreaElement).disabled)).toBe(true);
      expect(await other.$eval('#heads', (t) => (t as HTMLSelectElement).disabled)).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('a link with the text and settings in its hash opens on that view', async () => {
    await inTab(`#${new URLSearchParams({ heads: '2', window: '4', text: 'the cat sat on the mat' })}`, async (tab, errors) => {
      await settle(6, tab);
      expect(await view(tab)).toEqual({ text: 'the cat sat on the mat', heads: '2', window: '4', words: ['the', 'cat', 'sat', 'on', 'the', 'mat'], cells: [1, 2, 3, 4, 4, 4] });
      expect(errors).toEqual([]);
    });
  });

  it('editing writes the text and settings to the hash, replacing the history entry; a text too long for a link is left out', async () => {
    await inTab('', async (tab, errors) => {
      const entries = await tab.evaluate(() => history.length);
      await tab.selectOption('#heads', '4');
      await tab.selectOption('#window', '16');
      await tab.fill('#text', '');
      await tab.click('#text');
      // A keystroke at a time: the hash ends with the last one, however they were spaced.
      await tab.keyboard.type(EDITED);
      await expect.poll(() => hashed(tab)).toEqual({ heads: '4', window: '16', text: EDITED });
      await tab.selectOption('#window', '');
      await expect.poll(() => hashed(tab)).toEqual({ heads: '4', window: '', text: EDITED });
      await tab.fill('#text', 'word '.repeat(401));
      await expect.poll(() => hashed(tab)).toEqual({ heads: '4', window: '' });
      expect(await tab.evaluate(() => history.length)).toBe(entries);
      expect(errors).toEqual([]);
    });
  });

  it('a reload restores the text and settings', async () => {
    await inTab('', async (tab, errors) => {
      await tab.selectOption('#heads', '2');
      await tab.selectOption('#window', '4');
      await tab.fill('#text', EDITED);
      await expect.poll(() => hashed(tab)).toEqual({ heads: '2', window: '4', text: EDITED });
      await tab.reload();
      await tab.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
      await settle(4, tab);
      expect(await view(tab)).toEqual({ text: EDITED, heads: '2', window: '4', words: ['café', 'crème', '50', '1'], cells: [1, 2, 3, 4] });
      expect(errors).toEqual([]);
    });
  });

  it('a hash with values the page does not offer falls back to the defaults for those, without an error', async () => {
    const cases = [
      { hash: '#heads=3&window=abc&text=the+dog+ran&zoom=2', text: 'the dog ran', words: ['the', 'dog', 'ran'] },
      { hash: '#%zz&heads&window=-1&=', text: SENTENCE, words: SENTENCE.split(' ') },
    ];
    for (const { hash, text, words } of cases) {
      await inTab(hash, async (tab, errors) => {
        await settle(words.length, tab);
        expect(await view(tab)).toEqual({ text, heads: '1', window: '', words, cells: words.map((_, i) => i + 1) });
        expect(errors).toEqual([]);
      });
    }
  });

  it('on a touch screen the selects are at least 44 px high and wide, big enough for a finger', async () => {
    await inTab('', async (tab) => {
      const cdp = await tab.context().newCDPSession(tab);
      await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: true, maxTouchPoints: 1 });
      expect(await tab.evaluate(() => matchMedia('(pointer: coarse)').matches)).toBe(true);
      const sizes = await tab.$$eval('.controls select', (selects) => selects.map((s) => s.getBoundingClientRect()).map(({ width, height }) => ({ width, height })));
      expect(sizes).toHaveLength(2);
      for (const size of sizes) expect(Math.min(size.width, size.height)).toBeGreaterThanOrEqual(44);
    });
  });
});
