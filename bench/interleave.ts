/** A named piece of work that returns the seconds it measured itself. */
export interface Contender {
  readonly id: string;
  readonly run: () => number;
}

/**
 * Runs every contender once per round, starting each round one further along the list, so a
 * slow drift of the machine's load is shared instead of landing on one contender. Returns each
 * contender's seconds per run, in run order.
 */
export function interleave(contenders: readonly Contender[], rounds: number, onRun: (id: string) => void = () => {}): Map<string, number[]> {
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
