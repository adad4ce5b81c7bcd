import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('the API reference (npm run docs)', () => {
  it('documents every symbol exported by attnstream, attnstream/rx, attnstream/testing and attnstream/threads with a summary and an @example that type-checks', async () => {
    // Runs `npm run docs:check` itself, so the rule lives in one place: scripts/check-doc-examples.ts.
    const { code, out } = await new Promise<{ code: number | string; out: string }>((resolve) =>
      execFile(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'scripts', 'check-doc-examples.ts')], { cwd: ROOT }, (error, stdout) =>
        resolve({ code: error === null ? 0 : (error.code ?? -1), out: stdout }),
      ),
    );
    // On failure the diff lists each symbol with no doc comment or no @example, and each error in an example.
    expect(out.trim()).toMatch(/^every exported symbol has a doc comment and an @example, and its \d+ examples type-check$/);
    expect(code).toBe(0);
  });
});
