import type { CheckedStep } from '../incremental-attention.js';
import { vectorLength } from '../../attention/vector.js';
import type { Mismatch } from '../verification-error.js';
import type { StepBound } from './error-bounds.js';
import { formatError, formatNumber } from './format.js';

/**
 * The first way `actual` (returned by `call`) fails to match `expected` within `bound`, or null.
 * With `withWeights` (the options asked for them) `actual` must carry positions and weights;
 * without, they are compared when it does. Either way only against an `expected` that has them.
 * `expected` is the reference's step (`ofReference`), whose arithmetic laws (an output inside the
 * hull of the attended values, weights summing to the reference's total) are checked too; else
 * another run of the implementation's own, which is matched alone.
 */
export function compareStep(actual: CheckedStep, expected: CheckedStep, bound: StepBound, call: string, withWeights = false, ofReference = true): Mismatch | null {
  const token = expected.index;
  const output = actual.output as ArrayLike<number> | undefined;
  const want = Array.from(expected.output);
  if (vectorLength(output) === undefined) {
    return { kind: 'output', call, token, expected: want, description: `${call} returned a step for token ${token} without an output array` };
  }
  const got = Array.from(output!);
  if (got.length !== want.length) {
    return { kind: 'output', call, token, expected: want, actual: got, description: `the output of token ${token} has ${got.length} numbers, expected ${want.length}` };
  }
  const bad = got.findIndex((value) => !Number.isFinite(value));
  if (bad >= 0) {
    return { kind: 'non-finite', call, token, element: bad, expected: want, actual: got, description: `the output of token ${token} holds ${got[bad]} at element ${bad}` };
  }
  let worst = -1;
  let worstRatio = 0;
  for (let r = 0; r < got.length; r++) {
    const ratio = Math.abs(got[r]! - want[r]!) / bound.output[r]!;
    if (ratio > 1 && ratio > worstRatio) {
      worst = r;
      worstRatio = ratio;
    }
  }
  if (worst >= 0) {
    return {
      kind: 'output', call, token, element: worst, expected: want, actual: got,
      error: Math.abs(got[worst]! - want[worst]!), allowed: bound.output[worst]!,
      description: `the output of token ${token} differs from the expected one by more than allowed`,
    };
  }
  const outside = !ofReference ? -1 : got.findIndex((value, r) => !(bound.low[r]! - bound.margin[r]! <= value && value <= bound.high[r]! + bound.margin[r]!));
  if (outside >= 0) {
    const [low, high] = [bound.low[outside]!, bound.high[outside]!];
    return {
      kind: 'output', call, token, element: outside, expected: want, actual: got,
      error: Math.max(low - got[outside]!, got[outside]! - high), allowed: bound.margin[outside]!,
      description: `the output of token ${token} is outside what any weighting of the attended values gives (${formatNumber(low)} to ${formatNumber(high)} at element ${outside})`,
    };
  }
  if (withWeights && (actual.positions === undefined || actual.weights === undefined)) {
    const missing = [actual.positions === undefined ? 'positions' : '', actual.weights === undefined ? 'weights' : ''].filter(Boolean).join(' or ');
    return { kind: 'weights', call, token, description: `the options ask for weights (withWeights: true), but the step of token ${token} carries no ${missing}` };
  }
  if (actual.positions !== undefined && expected.positions !== undefined) {
    const have = Array.from(actual.positions);
    const should = Array.from(expected.positions);
    if (have.length !== should.length || have.some((p, n) => p !== should[n])) {
      return { kind: 'positions', call, token, expected: should, actual: have, description: `token ${token} attends positions [${have.join(', ')}], the mask gives [${should.join(', ')}]` };
    }
  }
  if (actual.weights !== undefined && expected.weights !== undefined) return compareWeights(actual.weights, expected.weights, bound, call, token, ofReference);
  return null;
}

function compareWeights(actual: readonly ArrayLike<number>[], expected: readonly ArrayLike<number>[], bound: StepBound, call: string, token: number, ofReference: boolean): Mismatch | null {
  if (actual.length !== expected.length) {
    return { kind: 'weights', call, token, description: `token ${token} has weights for ${actual.length} heads, expected ${expected.length}` };
  }
  for (let h = 0; h < expected.length; h++) {
    const got = Array.from(actual[h]!);
    const want = Array.from(expected[h]!);
    const where = { kind: 'weights' as const, call, token, head: h, expected: want, actual: got };
    if (got.length !== want.length) return { ...where, description: `head ${h} of token ${token} has ${got.length} weights, expected ${want.length}` };
    const sum = got.reduce((a, b) => a + b, 0);
    const total = bound.weightTotal[h]!;
    const sumAllowed = bound.base + bound.weightTotalChange[h]!;
    if (ofReference && !(Math.abs(sum - total) <= sumAllowed)) {
      return { ...where, description: `the weights of head ${h} of token ${token} sum to ${sum}, not ${total === 1 ? '1' : `${total} (1 less the sink logit's weight)`} (within ${formatError(sumAllowed)})` };
    }
    for (let j = 0; j < want.length; j++) {
      const error = Math.abs(got[j]! - want[j]!);
      const allowed = bound.weightChange[h]![j]! + bound.base;
      if (!(error <= allowed)) {
        return { ...where, element: j, error, allowed, description: `weight ${j} of head ${h} of token ${token} differs from the expected one by more than allowed` };
      }
    }
  }
  return null;
}
