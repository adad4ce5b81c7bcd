import { invalid, positiveInteger, positiveNumber, ropeBaseOf } from './options.js';

/** What every `rope_scaling` helper starts from: the rotated size, the base, the factor and the original context. */
export interface RopeScalingBasics {
  readonly ropeDim: number;
  readonly ropeBase: number;
  readonly factor: number;
  readonly originalMaxPositionEmbeddings: number;
}

/** `scaling`'s shared fields, checked (INVALID_OPTION naming the field): an even ropeDim, a base > 1, a positive factor and context. */
export function readRopeScaling(scaling: RopeScalingBasics): { ropeDim: number; base: number; factor: number; original: number } {
  if (scaling === null || typeof scaling !== 'object') invalid('scaling', 'must be an object');
  const ropeDim = positiveInteger(scaling.ropeDim, 'ropeDim');
  if (ropeDim % 2 !== 0) invalid('ropeDim', `must be even, got ${ropeDim}`);
  return {
    ropeDim,
    base: ropeBaseOf(scaling.ropeBase),
    factor: positiveNumber(scaling.factor, 'factor'),
    original: positiveNumber(scaling.originalMaxPositionEmbeddings, 'originalMaxPositionEmbeddings'),
  };
}
