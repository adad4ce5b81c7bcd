import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * A child process that answers one JSON line per command line: the C reference and the numpy
 * peer speak it (see bench/c/attention.c). Requests are answered in order.
 */
export class LineProtocolChild {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: { resolve: (reply: Record<string, unknown>) => void; reject: (error: Error) => void }[] = [];
  private stderr = '';
  private exited: Error | null = null;

  constructor(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-2000);
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const next = this.waiting.shift();
      if (next === undefined) return;
      try {
        const reply = JSON.parse(line) as Record<string, unknown>;
        if (typeof reply.error === 'string') next.reject(new Error(`${command}: ${reply.error}`));
        else next.resolve(reply);
      } catch {
        next.reject(new Error(`${command}: unreadable reply ${line.slice(0, 200)}`));
      }
    });
    const fail = (error: Error): void => {
      this.exited = error;
      for (const w of this.waiting.splice(0)) w.reject(error);
    };
    this.child.on('error', fail);
    this.child.on('exit', (code, signal) => fail(new Error(`${command} exited (${code ?? signal}): ${this.stderr.trim()}`)));
  }

  /** Sends one command line and resolves with its JSON reply. */
  request(line: string): Promise<Record<string, unknown>> {
    if (this.exited !== null) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(`${line}\n`);
    });
  }

  /** Asks the child to quit and waits for it. */
  async close(): Promise<void> {
    if (this.exited !== null) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end('quit\n');
    await done;
  }
}
