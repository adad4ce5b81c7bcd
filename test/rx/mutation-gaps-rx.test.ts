import { from, lastValueFrom, Subject, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createAttention } from '../../src/index.js';
import type { Attention, AttentionOptions, Vector } from '../../src/index.js';
import { attend, generate } from '../../src/rx/index.js';

// Tests a mutation-testing round of the rx operators found missing: each names the mutant it kills.

const options: AttentionOptions = { dim: 2, precision: 'float64' };
const a = [1, 0];
const b = [0, 2];
const c = [1, 1];

describe('attend: what the source sends while steps are being emitted', () => {
  it("an error sent from inside a subscriber waits behind a value sent before it (mutant: the source's error not queued)", () => {
    const tokens = new Subject<Vector>();
    const indices: number[] = [];
    let failure: unknown = null;
    tokens.pipe(attend(options)).subscribe({
      next: (step) => {
        indices.push(step.index);
        if (step.index === 0) {
          tokens.next(b);
          tokens.error(new Error('source lost'));
        }
      },
      error: (error: unknown) => (failure = error),
    });
    tokens.next(a);
    expect(indices).toEqual([0, 1]);
    expect(failure).toMatchObject({ message: 'source lost' });
  });
});

describe('attend: holds on the engines its factory returns', () => {
  it('lets go of an engine at the end of its subscription, so an engine without a disposed flag (one its owner resets) serves the next subscription (mutant: no letGo in the teardown)', async () => {
    // A pooled engine: its dispose resets it for the next user, and it has no `disposed` flag.
    let inner = createAttention(options);
    const pooled = {
      push: (x: Vector) => inner.push(x),
      flush: () => inner.flush(),
      dispose: () => {
        inner.dispose();
        inner = createAttention(options);
      },
    } as unknown as Attention;
    const attended = from([a, b]).pipe(attend(() => pooled), toArray());
    const first = await lastValueFrom(attended);
    const second = await lastValueFrom(attended);
    expect(first.map((s) => s.index)).toEqual([0, 1]);
    expect(second.map((s) => s.index)).toEqual([0, 1]);
    // A fresh cache each time: the same steps.
    expect(Array.from(second[1]!.output)).toEqual(Array.from(first[1]!.output));
  });
});

describe('generate: holds on the engine given', () => {
  it('a run that ended lets go of the engine: attend may then push into it (mutant: no letGo in generate\'s teardown)', async () => {
    const engine = createAttention(options);
    const steps = await lastValueFrom(generate({ engine, first: a, next: () => b, maxTokens: 2 }).pipe(toArray()));
    expect(steps.map((s) => s.index)).toEqual([0, 1]);
    const after = await lastValueFrom(from([c]).pipe(attend(() => engine), toArray()));
    expect(after.map((s) => s.index)).toEqual([2]);
    expect(engine.disposed).toBe(true);
  });
});
