import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

// CI builds before it tests (.ci/run); a plain `npm test` without a build has no dist to check.
describe.runIf(existsSync(`${root}dist/index.js`))('the built package, through its exports map, in plain Node', () => {
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
});
