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

/** Seconds `fn` takes, by performance.now(). */
export function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}
