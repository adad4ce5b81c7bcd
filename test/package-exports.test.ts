import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

// CI builds before it tests (.ci/run); a plain `npm test` without a build has no dist to check.
describe.runIf(existsSync(`${root}dist/index.js`))('the built package, through its exports map, in plain Node', () => {
  it("attnstream/threads starts its workers from dist and splits a step, bit for bit one thread's", () => {
    const script = `
      import { createAttention } from 'attnstream';
      import { createThreadPool } from 'attnstream/threads';
      const pool = await createThreadPool(2);
      const options = { dim: 64, heads: 8, withWeights: true };
      const split = createAttention({ ...options, threads: pool });
      const one = createAttention(options);
      let same = true;
      for (let t = 0; t < 100; t++) {
        const x = Array.from({ length: 64 }, (_, c) => Math.sin(t + 0.1 * c));
        same &&= JSON.stringify(split.push(x)) === JSON.stringify(one.push(x));
      }
      await pool.close();
      console.log(JSON.stringify([pool.threads, same]));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([2, true]);
  });

  it("attnstream/threads' browser condition names the built Web Worker pool (test/browser/threads.test.ts runs it)", async () => {
    const { exports } = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
    const entry = exports['./threads'].browser as string;
    expect(entry).toBe('./dist/threads/browser.js');
    // It imports no Node built-in, so Node can load it too (a pool needs a browser's Worker).
    const browser = await import(pathToFileURL(`${root}${entry}`).href);
    expect(typeof browser.createThreadPool).toBe('function');
    expect(readFileSync(`${root}${entry}`, 'utf8')).not.toMatch(/from 'node:/);
  });

  it("import { createAttention } from 'attnstream' (and the rx and testing subpaths) works from dist", () => {
    const script = `
      import { createAttention, AttentionError } from 'attnstream';
      import { attend } from 'attnstream/rx';
      import { checkIncremental } from 'attnstream/testing';
      const [step] = createAttention({ dim: 2 }).push([3, 4]);
      console.log(JSON.stringify([Array.from(step.output), typeof attend, typeof checkIncremental, typeof AttentionError]));
    `;
    // A package can import itself by name through its own exports map.
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([[3, 4], 'function', 'function', 'function']);
  });

  // Node 20.19+ and 22.12+ load an ES module from require() (process.features.require_module);
  // the exports' "default" condition is what lets CommonJS reach them.
  it.runIf((process.features as { require_module?: boolean }).require_module === true)('CommonJS require() reaches every subpath', () => {
    const script = `
      const { createAttention } = require('attnstream');
      const { attend } = require('attnstream/rx');
      const { checkIncremental } = require('attnstream/testing');
      const { createThreadPool } = require('attnstream/threads');
      const [step] = createAttention({ dim: 2 }).push([3, 4]);
      console.log(JSON.stringify([Array.from(step.output), typeof attend, typeof checkIncremental, typeof createThreadPool]));
    `;
    const out = execFileSync(process.execPath, ['--input-type=commonjs', '--no-warnings', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([[3, 4], 'function', 'function', 'function']);
  });
});
