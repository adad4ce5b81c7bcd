import { wasmArena } from '../kernels/wasm/wasm-arena.js';
import type { WasmArena } from '../kernels/wasm/wasm-arena.js';
import type { ResolvedOptions } from './options.js';

/**
 * Where an engine's cache (or a linear layer's weights) lives: its thread pool's shared arena,
 * else the process's WebAssembly arena on the 'wasm' kernels, else plain arrays (null).
 */
export function kernelArena(o: Pick<ResolvedOptions, 'threads' | 'kernels'>): WasmArena | null {
  if (o.threads !== null) return o.threads.arena;
  return o.kernels === 'wasm' ? wasmArena() : null;
}
