import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The C reference's compile command, as the report prints it. */
export const GCC_FLAGS = ['-O3', '-march=native', '-ffast-math', '-pthread'] as const;

/** A compiled bench/c/attention.c, or why there is none. */
export type CompiledReference = { readonly binary: string; readonly gcc: string; readonly cleanup: () => Promise<void> } | { readonly skipped: string };

/** Compiles the C reference into a fresh temporary directory; `{ skipped }` when gcc is absent or fails. */
export async function compileReference(source: string): Promise<CompiledReference> {
  let gcc: string;
  try {
    gcc = (await run('gcc', ['--version'])).stdout.split('\n')[0]!.trim();
  } catch {
    return { skipped: 'gcc is not installed here, so the C reference was not built' };
  }
  const dir = await mkdtemp(join(tmpdir(), 'attnstream-bench-'));
  const binary = join(dir, 'attention');
  try {
    await run('gcc', [...GCC_FLAGS, '-o', binary, source, '-lm']);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    return { skipped: `gcc failed: ${(error as { stderr?: string }).stderr?.trim().slice(0, 300) ?? String(error)}` };
  }
  // Also on an interrupted run (run.ts turns Ctrl-C into an exit), so no binary is left in /tmp.
  const removeNow = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeNow);
  return {
    binary,
    gcc,
    cleanup: async () => {
      process.removeListener('exit', removeNow);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** numpy's version and BLAS threading as python3 reports them, or why numpy cannot be used. */
export async function probeNumpy(): Promise<{ readonly version: string; readonly python: string } | { readonly skipped: string }> {
  try {
    const { stdout } = await run('python3', ['-c', 'import sys, numpy; print(numpy.__version__); print(sys.version.split()[0])']);
    const [version, python] = stdout.trim().split('\n');
    return { version: version!.trim(), python: python!.trim() };
  } catch {
    return { skipped: 'python3 with numpy is not importable here (the bench does not install it)' };
  }
}
