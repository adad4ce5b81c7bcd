export { addBias } from './add-bias.js';
export { axpy } from './axpy.js';
export { dot, dotTwo } from './dot.js';
export type { FloatArray, FloatArrayConstructor } from './float-array.js';
export { BF16_MAX, roundToBfloat16, widenBfloat16 } from './bfloat16.js';
export { matMatTransposed } from './mat-mat.js';
export { beyondInt8Range, isInt8Scale, quantizeColumnsInt8, quantizeRowInt8 } from './quantize-int8.js';
export { ropeInverseFrequencies, ropeRotate } from './rope.js';
export { softmaxInPlace } from './softmax.js';
