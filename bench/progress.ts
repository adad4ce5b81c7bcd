/**
 * A progress bar on stderr: tasks done out of the planned total, what runs now, time elapsed. On a
 * terminal it redraws one line; elsewhere (CI, a test) it prints a line per section only.
 */
export class Progress {
  private done = 0;
  private total: number;
  private readonly started = performance.now();
  private readonly tty: boolean;
  private readonly quiet: boolean;

  constructor(total: number, quiet = false) {
    this.total = Math.max(1, total);
    this.tty = process.stderr.isTTY === true;
    this.quiet = quiet;
  }

  /** Adds planned tasks (the plan grows as sections learn what they will run). */
  plan(tasks: number): void {
    this.total += tasks;
  }

  /** A new section starts. */
  section(name: string): void {
    if (this.quiet) return;
    if (this.tty) this.draw(name);
    else process.stderr.write(`[bench ${this.elapsed()}] ${name}\n`);
  }

  /** One task done; `now` says what runs next. */
  tick(now: string): void {
    this.done = Math.min(this.total, this.done + 1);
    if (!this.quiet && this.tty) this.draw(now);
  }

  /** Redraws with a new label, no task done. */
  status(now: string): void {
    if (!this.quiet && this.tty) this.draw(now);
  }

  finish(message: string): void {
    if (this.quiet) return;
    if (this.tty) process.stderr.write('\r\x1b[2K');
    process.stderr.write(`[bench ${this.elapsed()}] ${message}\n`);
  }

  private draw(label: string): void {
    const width = 28;
    const fraction = this.done / this.total;
    const filled = Math.round(fraction * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const columns = process.stderr.columns ?? 100;
    const line = `[${bar}] ${String(Math.round(fraction * 100)).padStart(3)}% ${this.elapsed()} ${label}`;
    process.stderr.write(`\r\x1b[2K${line.slice(0, columns - 1)}`);
  }

  private elapsed(): string {
    const s = Math.round((performance.now() - this.started) / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }
}
