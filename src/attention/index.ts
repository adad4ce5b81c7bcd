export { alibiSlopes } from './alibi-slopes.js';
export { batchAttention } from './batch-attention.js';
export type { CacheEvent, CacheListener } from './cache-event.js';
export { createAttention } from './create-attention.js';
export type { Attention } from './create-attention.js';
export { resolveOptions } from './options.js';
export type { AttentionOptions, AttentionWeights, PositionEncoding, ResolvedOptions } from './options.js';
export type { AttentionStep } from './step.js';
export type { Vector } from './vector.js';
