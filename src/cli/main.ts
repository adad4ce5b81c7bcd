#!/usr/bin/env node
// The `attnstream` command. `npm run build` bundles this file into dist/cli/main.js.
import { createReadStream, fstatSync } from 'node:fs';
import { runCli } from './run-cli.js';
import { reportStdoutFailures } from './stdout-failures.js';

// runCli stops the run when stdout fails, and says why; this covers a failure after it returned
// (`attnstream --help | true`).
let running = true;
reportStdoutFailures('attnstream', () => running);
process.exitCode = await runCli(process.argv.slice(2), { stdin: standardInput(), stdout: process.stdout, stderr: process.stderr, env: process.env });
running = false;

/** process.stdin, except that Node reads a directory on fd 0 as empty input: read it ourselves to get its error (EISDIR). */
function standardInput(): NodeJS.ReadableStream & { readonly isTTY?: boolean } {
  try {
    if (fstatSync(0).isDirectory()) return createReadStream('', { fd: 0 });
  } catch {
    // fd 0 cannot be inspected: leave it to Node's stream.
  }
  return process.stdin;
}
