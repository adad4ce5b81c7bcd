import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { firstValueFrom, from, Subject, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createAttention } from '../../src/index.js';
import type { AttentionOptions, AttentionStep, Vector } from '../../src/index.js';
import { attend, generate } from '../../src/rx/index.js';

const dim = 8;
const xs: Vector[] = Array.from({ length: 3 }, (_, t) => Array.from({ length: dim }, (_, c) => Math.sin(t + c)));

/** Fresh arrays each call, with the same numbers: the caller's weights, and equal ones to check against. */
function options(): AttentionOptions {
  const matrix = (seed: number) => Float32Array.from({ length: dim * dim }, (_, i) => Math.sin(i * 0.37 + seed) / 3);
  return { dim, heads: 2, weights: { wq: matrix(1), wk: matrix(2), wv: matrix(3), wo: matrix(4) } };
}

/**
 * How many of the caller's weight arrays are still alive after a collection, while what `make`
 * built from them (returned, so it is reachable throughout) lives.
 */
async function callerArraysAlive<T>(make: (o: AttentionOptions) => T): Promise<[number, T]> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const [made, arrays] = ((): [T, WeakRef<object>[]] => {
    const o = options();
    return [make(o), Object.values(o.weights!).map((array: object) => new WeakRef(array))];
  })();
  // A WeakRef holds its target until the job that made it ends.
  await new Promise((resolve) => setTimeout(resolve, 0));
  gc();
  return [arrays.filter((ref) => ref.deref() !== undefined).length, made];
}

const outputs = (steps: AttentionStep[]) => steps.map((step) => Array.from(step.output));

describe("the operators keep a copy of the options, not the caller's weight arrays (a memory audit: a closure's scope held them)", () => {
  it('attend(options), with and without a live subscription', async () => {
    const [alive, operator] = await callerArraysAlive((o) => attend(o));
    expect(alive).toBe(0);
    const direct = createAttention(options());
    expect(outputs(await firstValueFrom(from(xs).pipe(operator, toArray())))).toEqual(xs.map((x) => Array.from(direct.push(x)[0]!.output)));

    const tokens = new Subject<Vector>();
    const [aliveWhileSubscribed, subscription] = await callerArraysAlive((o) => tokens.pipe(attend(o)).subscribe());
    expect(aliveWhileSubscribed).toBe(0);
    subscription.unsubscribe();
  });

  it('generate({ options }), with and without a run going on', async () => {
    const config = (o: AttentionOptions) => ({ options: o, first: xs[0]!, next: (step: AttentionStep) => step.output, maxTokens: 3 });
    const [alive, run] = await callerArraysAlive((o) => generate(config(o)));
    expect(alive).toBe(0);
    const direct = await firstValueFrom(generate(config(options())).pipe(toArray()));
    expect(outputs(await firstValueFrom(run.pipe(toArray())))).toEqual(outputs(direct));

    const [aliveWhileRunning, subscription] = await callerArraysAlive((o) => generate({ ...config(o), maxTokens: Infinity, yieldEvery: 1 }).subscribe());
    expect(aliveWhileRunning).toBe(0);
    subscription.unsubscribe();
  });
});
