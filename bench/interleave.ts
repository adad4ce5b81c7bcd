/** A named piece of work that returns the time it measured itself (its caller knows the unit). */
export interface Contender {
  readonly id: string;
  readonly run: () => number;
}

/**
 * A contender whose runs repeat `step` (which returns the µs it took) for about `micros` µs, the
 * count sized from one warm-up step; a run returns its mean µs per step.
 */
export function stepsContender(id: string, step: () => number, micros: number): Contender {
  const count = Math.max(1, Math.min(200, Math.round(micros / step())));
  return {
    id,
    run: () => {
      let total = 0;
      for (let i = 0; i < count; i++) total += step();
      return total / count;
    },
  };
}

/**
 * Runs every contender once untimed (its code compiled and tiered up, its memory grown), then
 * once per round, starting each round one further along the list, so a slow drift of the
 * machine's load is shared instead of landing on one contender. Returns each contender's seconds
 * per timed run, in run order.
 */
export function interleave(contenders: readonly Contender[], rounds: number, onRun: (id: string) => void = () => {}): Map<string, number[]> {
  for (const c of contenders) c.run();
  const seconds = new Map<string, number[]>(contenders.map((c) => [c.id, []]));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const c = contenders[(i + round) % contenders.length]!;
      onRun(c.id);
      seconds.get(c.id)!.push(c.run());
    }
  }
  return seconds;
}

/**
 * Waits `ms` milliseconds, idle, before a timed run: the threads of the implementation that ran
 * before it (numpy's BLAS spins about 0.1 s after a call, onnxruntime's pool a while, a thread
 * pool's workers poll 2 ms) must not take the second core from the next one. Without it, in one
 * stream run, a two-threaded implementation that followed numpy or onnxruntime ran up to 1.7×
 * slower, and every implementation's median moved (attnstream-2t 12,719 → 14,841 tokens/s with
 * 150 ms, c-2t 9,888 → 12,267, c-1t 12,858 → 13,452).
 */
export function settle(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** Seconds `fn` takes, by performance.now(). */
export function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}
