import type { CheckedStep } from '../incremental-attention.js';
import { describeValue } from '../../errors.js';

/**
 * What an implementation's call returned, for a mismatch's description: the tokens of its steps
 * (`the steps of tokens [0, 1]`), or what keeps it from being steps: not an array (`undefined, not an array of steps`), or
 * an element that is not a step, named (`[null] (an array) whose element 0 is null, not a step …`),
 * which a list of indices would show as no token at all.
 */
export function describeReturnedSteps(steps: unknown): string {
  if (!Array.isArray(steps)) return `${describeValue(steps)}, not an array of steps`;
  const bad = steps.findIndex((s: unknown) => s === null || typeof s !== 'object' || typeof (s as Partial<CheckedStep>).index !== 'number');
  if (bad >= 0) return `${describeValue(steps)} whose element ${bad} is ${describeValue(steps[bad])}, not a step (an object with a numeric index)`;
  return `the steps of tokens [${steps.map((s: CheckedStep) => s.index).join(', ')}]`;
}
