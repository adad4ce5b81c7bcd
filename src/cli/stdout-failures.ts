/**
 * Reports a failure of the process's stdout that comes when nothing else will: a reader gone
 * (EPIPE) ends the command quietly, anything else is one line on stderr and exit 1. Without a
 * listener, Node ends the process with a stack trace (`npm start | head -1`). `prefix` names the
 * command; `reported()` says whether the run itself reports failures now (runCli does while it
 * runs, and this listener would say it twice).
 */
export function reportStdoutFailures(prefix: string, reported: () => boolean = () => false): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || reported()) return;
    process.stderr.write(`${prefix}: cannot write to stdout: ${error.message}\n`);
    process.exitCode = 1;
  });
}
