export { axpy } from './axpy.js';
export { dot } from './dot.js';
export type { FloatArray, FloatArrayConstructor } from './float-array.js';
export { matVec } from './mat-vec.js';
export { ropeInverseFrequencies, ropeRotate } from './rope.js';
export { softmaxInPlace } from './softmax.js';
