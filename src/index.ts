export {
  alibiSlopes,
  batchAttention,
  createAttention,
  resolveOptions,
  restoreAttention,
} from './attention/index.js';
export type {
  Attention,
  AttentionOptions,
  AttentionStep,
  AttentionWeights,
  CacheEvent,
  CacheListener,
  PositionEncoding,
  ResolvedOptions,
  Vector,
} from './attention/index.js';
export type { CacheStats } from './cache/index.js';
export { AttentionError } from './errors.js';
export type { AttentionErrorCode, AttentionErrorDetails } from './errors.js';
