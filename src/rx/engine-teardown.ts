/**
 * Disposes the engine an operator made, at its subscription's teardown, or, when that teardown
 * runs inside one of the operator's own calls into the engine, once the call returns. A consumer
 * may unsubscribe from anywhere, a getter of the input being pushed included, and the engine
 * refuses `dispose()` while it reads a call's inputs: the refusal came out of the consumer's
 * `unsubscribe()` and the engine was never disposed. Internal: not exported from the package.
 */
export class EngineTeardown {
  private calls = 0;
  private pending = false;

  /** `engine` null: the operator was given the engine, which it leaves as it is. */
  constructor(private readonly engine: { dispose(): void } | null) {}

  /** Runs one of the operator's calls into the engine (a push, a flush). */
  run<T>(call: () => T): T {
    this.calls++;
    try {
      return call();
    } finally {
      if (--this.calls === 0 && this.pending) {
        this.pending = false;
        this.engine!.dispose();
      }
    }
  }

  /** The teardown's dispose: now, or after the call running now. */
  dispose(): void {
    if (this.engine === null) return;
    if (this.calls > 0) this.pending = true;
    else this.engine.dispose();
  }
}
