import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

  it('the published declarations type-check for a strict consumer, and offer no way to make or drive a pool', () => {
    // Found by a types hunt: ThreadPool's constructor and its kernels' entry points (project, which
    // overwrites the pool's memory) were public in the .d.ts, typed with names no consumer can import.
    const dir = mkdtempSync(join(root, '.consumer-'));
    try {
      writeFileSync(
        join(dir, 'consumer.ts'),
        `
        import { createAttention, restoreAttention, ThreadPool } from 'attnstream';
        import type { AttentionStep } from 'attnstream';
        import { attend, EmbeddingTable } from 'attnstream/rx';
        import { checkIncremental } from 'attnstream/testing';
        import { createThreadPool } from 'attnstream/threads';
        const pool: ThreadPool = await createThreadPool(2);
        // @ts-expect-error: a pool is made by createThreadPool
        new ThreadPool();
        // @ts-expect-error: the kernels' entry points are the library's
        pool.project(0, 0, 0, 4, 64, 64);
        // @ts-expect-error
        void pool.arena;
        const attn = createAttention({ dim: 2, threads: pool });
        const steps: AttentionStep[] = restoreAttention(attn.snapshot()).push([1, 2]);
        // A snapshot is typed as bytes of their own, which a Blob, fetch or crypto.subtle take
        // (a types hunt: on TypeScript 5.7+ they were Uint8Array<ArrayBufferLike>, refused there).
        const own: Uint8Array<ArrayBuffer> = attn.snapshot();
        void [steps, own, attend, EmbeddingTable, checkIncremental];
        await pool.close();
        `,
      );
      const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
      const flags = ['--noEmit', '--strict', '--skipLibCheck', 'false', '--exactOptionalPropertyTypes', '--noUncheckedIndexedAccess', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node'];
      const out = (() => {
        try {
          return execFileSync(process.execPath, [tsc, ...flags, join(dir, 'consumer.ts')], { cwd: root, encoding: 'utf8' });
        } catch (error) {
          return (error as { stdout: string }).stdout;
        }
      })();
      expect(out).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
