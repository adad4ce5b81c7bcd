export {
  alibiSlopes,
  batchAttention,
  batchAttentionQKV,
  createAttention,
  createAttentionStack,
  createCrossAttention,
  createLinear,
  dynamicNtkRopeFrequencies,
  llama3RopeFrequencies,
  longRope,
  MAX_STREAM_LENGTH,
  pushEach,
  pushEachQKV,
  resolveOptions,
  restoreAttention,
  restoreAttentionStack,
  restoreCrossAttention,
  snapshotMetadata,
  yarnRope,
} from './attention/index.js';
export type {
  Attention,
  AttentionOptions,
  AttentionStack,
  AttentionStackOptions,
  AttentionStep,
  AttentionWeights,
  CacheEvent,
  CacheListener,
  CrossAttention,
  CrossAttentionOptions,
  DynamicNtkRopeScaling,
  Linear,
  LinearOptions,
  Llama3RopeScaling,
  LongRopeScaling,
  PositionEncoding,
  ResolvedOptions,
  RunOptions,
  ScaledRope,
  SnapshotOptions,
  StackStats,
  StepOptions,
  Vector,
  YarnRope,
  YarnRopeScaling,
} from './attention/index.js';
export type { CacheStats, SafetensorsData, SafetensorsFile } from './cache/index.js';
export { readSafetensors } from './cache/index.js';
export type { FloatArray, FloatArrayConstructor } from './kernels/index.js';
export { ThreadPool } from './kernels/wasm/thread-pool.js';
export { AttentionError } from './errors.js';
export type { AttentionErrorCode, AttentionErrorDetails } from './errors.js';
