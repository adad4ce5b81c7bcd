import { wasmArena } from '../kernels/wasm/wasm-arena.js';
import type { WasmArena } from '../kernels/wasm/wasm-arena.js';
import type { ResolvedOptions } from './options.js';

/** Where an engine's cache keeps keys and values: the WebAssembly arena on the 'wasm' kernels, else plain arrays. */
export function kernelArena(o: ResolvedOptions): WasmArena | null {
  return o.kernels === 'wasm' ? wasmArena() : null;
}
