import { describeError, MismatchFound } from './mismatch-found.js';

/**
 * Thrown where a synchronous check's call into the implementation returned a promise: comparing a
 * promise with steps would report a mismatch that is not one (the asynchronous checks await it).
 */
export class AsyncImplementation extends Error {
  constructor(readonly call: string) {
    super(`${call} returned a promise`);
    this.name = 'AsyncImplementation';
  }
}

/** One call into the implementation under check, with the text a report shows for it. */
export interface ImplementationCall {
  readonly text: string;
  readonly run: () => unknown;
  /** A call the check does not judge (releasing an engine): a promise it returns is no refusal. */
  readonly unjudged?: true;
}

/** How a call went: what it returned (a promise's value, for the asynchronous checks), or what it threw. */
export type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/**
 * A check's verification of one case, written once for synchronous and asynchronous
 * implementations alike: it yields every call into the implementation and is given back the
 * call's outcome; {@link runCalls} makes the calls as they return, {@link awaitCalls} awaits each.
 * Calls run one at a time, in the order the verification makes them.
 */
export type Verification<T = void> = Generator<ImplementationCall, T, Outcome>;

/**
 * Runs `verification` making each call synchronously.
 *
 * @throws AsyncImplementation where a call returned a promise (its rejection is handled, so that
 *   it is not reported as unhandled after the check ended).
 */
export function runCalls<T>(verification: Verification<T>): T {
  let next = verification.next();
  while (next.done !== true) {
    const { text, run, unjudged } = next.value;
    let outcome: Outcome;
    try {
      outcome = { ok: true, value: run() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    if (outcome.ok && isThenable(outcome.value)) {
      try {
        outcome.value.then(undefined, () => undefined);
      } catch {
        // A `then` of the implementation's own that throws: the call is a promise all the same.
      }
      if (unjudged !== true) throw new AsyncImplementation(text);
    }
    next = verification.next(outcome);
  }
  return next.value;
}

/** Runs `verification` awaiting each call's result (a value that is not a promise is taken as it is). */
export async function awaitCalls<T>(verification: Verification<T>): Promise<T> {
  let next = verification.next();
  while (next.done !== true) {
    let outcome: Outcome;
    try {
      outcome = { ok: true, value: await next.value.run() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    next = verification.next(outcome);
  }
  return next.value;
}

/**
 * Releases an engine once its case is done, pass or fail: `dispose()` when it has one, whatever
 * it throws or returns not judged (a synchronous check takes a promise it returns too).
 */
export function* release(text: string, engine: { readonly dispose?: (() => unknown) | undefined }): Verification {
  yield { text, run: () => engine.dispose?.(), unjudged: true };
}

/** The call's outcome, however it went: for a check that judges a refusal itself. */
export function* outcomeOf(text: string, run: () => unknown): Verification<Outcome> {
  return yield { text, run };
}

/** Makes the call and returns its result; whatever it throws fails the case as kind 'threw'. */
export function* attempt<T>(text: string, run: () => T | PromiseLike<T>): Verification<T> {
  const outcome = yield* outcomeOf(text, run);
  if (outcome.ok) return outcome.value as T;
  throw new MismatchFound({ kind: 'threw', call: text, description: `${text} threw ${describeError(outcome.error)}` });
}

/**
 * `push(copy)` for a fresh copy of the kit's `x`, through {@link attempt}: the kit's own tokens stay
 * what its reference and replays read, and an engine that writes into the vector it was given fails
 * as `mutated` (callers reuse their input arrays). An asynchronous engine is checked once its
 * promise settled.
 */
export function* pushCopy<T>(text: string, push: (x: number[]) => T | PromiseLike<T>, x: readonly number[]): Verification<T> {
  const copy = Array.from(x);
  const result = yield* attempt(text, () => push(copy));
  const changed = copy.findIndex((value, r) => !Object.is(value, x[r]));
  if (changed >= 0) {
    throw new MismatchFound({
      kind: 'mutated',
      call: text,
      element: changed,
      expected: Array.from(x),
      actual: copy,
      description: `${text} wrote into the vector it was given (element ${changed} is now ${copy[changed]}): an engine must not change its inputs`,
    });
  }
  return result;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
