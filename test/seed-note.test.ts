import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('examples/seed-note.ts (the note’s worked case)', () => {
  it('prints the scores 2, 2, 3 for x3, their softmax, and a3 as the weighted sum', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'examples', 'seed-note.ts')], (error, stdout) => (error === null ? resolve(stdout) : reject(error))),
    );
    // By hand: softmax(2, 2, 3) = (e², e², e³) / (2e² + e³); a3 = w·[1,0,1] + w·[0,2,0] + w3·[1,1,1].
    const total = 2 * Math.exp(2) + Math.exp(3);
    const [w, w3] = [Math.exp(2) / total, Math.exp(3) / total];
    expect(out).toContain('x3·x1 = 2   x3·x2 = 2   x3·x3 = 3');
    expect(out).toContain(`weights   ${w.toFixed(4)}  ${w.toFixed(4)}  ${w3.toFixed(4)}`);
    expect(out).toContain(`a_3       [${(w + w3).toFixed(4)}, ${(2 * w + w3).toFixed(4)}, ${(w + w3).toFixed(4)}]`);
  });
});
