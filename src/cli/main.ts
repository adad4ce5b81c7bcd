#!/usr/bin/env node
// The `attnstream` command. `npm run build` bundles this file into dist/cli/main.js.
import { runCli } from './run-cli.js';

process.exitCode = await runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
