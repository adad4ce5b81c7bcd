export type { CacheStats } from './cache-stats.js';
export type { KVBlock } from './kv-block.js';
export { PagedKVCache } from './paged-kv-cache.js';
export type { KVCacheLayout } from './paged-kv-cache.js';
export { readSafetensors } from './read-safetensors.js';
export type { SafetensorsData, SafetensorsFile } from './read-safetensors.js';
