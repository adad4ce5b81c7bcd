export { attend } from './attend.js';
export { cacheEvents } from './cache-events.js';
export { embed } from './embed.js';
export { EmbeddingTable } from './embedding-table.js';
export type { EmbeddingTableOptions } from './embedding-table.js';
export { generate } from './generate.js';
export type { GenerateOptions, GenerateSource, GenerationEngine } from './generate.js';
export { tokenize } from './tokenize.js';
