/**
 * Which live subscription holds each engine that an operator pushes into but did not make from
 * options: the engines `attend`'s factory returns, and the one given to `generate`. Two
 * subscriptions pushing into one engine in turn would interleave their tokens in one cache, each
 * attending the other's, with nothing to show for it but wrong outputs; a hold lets the second
 * one see the first. Internal: not exported from the package.
 *
 * Weak, so an engine the caller drops is not kept for it. The holder is an identity made per
 * subscription, so a subscription lets go only of a hold that is still its own.
 */
const holders = new WeakMap<object, Holder>();

/** A subscription's hold, and which operator's it is: an `attend` subscription's is never taken over. */
export interface Holder {
  readonly operator: 'attend' | 'generate';
}

/** The live subscription holding `engine`, or undefined when none does. */
export function holderOf(engine: object): Holder | undefined {
  return holders.get(engine);
}

/** Makes `holder` the one holding `engine`, in place of any earlier holder. */
export function hold(engine: object, holder: Holder): void {
  holders.set(engine, holder);
}

/** Ends `holder`'s hold on `engine`; a hold a later subscription took is left to it. */
export function letGo(engine: object, holder: Holder): void {
  if (holders.get(engine) === holder) holders.delete(engine);
}
