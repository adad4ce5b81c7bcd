import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SEED_KEY, SEED_VALUE, tokenRows } from './data.js';
import { createAttention } from '../src/index.js';
import { createThreadPool } from '../src/threads/index.js';
import { wasmArena } from '../src/kernels/wasm/wasm-arena.js';
import { attnstreamImplementation, engineOptions } from './impls/attnstream-implementation.js';
import { childImplementation } from './impls/child-implementation.js';
import type { Cell, CellData, DecodeImplementation } from './impls/decode-implementation.js';
import { LineProtocolChild } from './impls/line-protocol-child.js';
import { onnxAttentionImplementation, onnxMatMulImplementation } from './impls/onnx-implementations.js';
import { plainLoopsImplementation } from './impls/plain-loops-implementation.js';
import { tfjsImplementation } from './impls/tfjs-implementations.js';
import { compileReference, GCC_FLAGS, probeNumpy } from './native-tools.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
export const ROOT = dirname(BENCH);

/** An implementation that was asked for but cannot run here, and why. */
export interface Skipped {
  readonly id: string;
  readonly reason: string;
}

export interface Implementations {
  readonly list: readonly DecodeImplementation[];
  readonly skipped: readonly Skipped[];
  /** Library and tool versions, for the report. */
  readonly versions: Record<string, string>;
  /** Settings that change the figures (threads, SIMD), for the report. */
  readonly settings: Record<string, string>;
  /** The C reference's child, when built: it also measures memory bandwidth. */
  readonly native: LineProtocolChild | null;
  /** Token-major keys and values of tokens 0 … n of a cell, made once per cell and shared. */
  readonly cellData: CellData;
  /** Frees the shared cell data. */
  readonly releaseCellData: () => void;
  close(): Promise<void>;
}

/** The version in `dir`/package.json, or 'not installed'. */
function versionAt(dir: string): string {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function packageVersion(name: string): string {
  return versionAt(join(ROOT, 'node_modules', name));
}

/** Starts every implementation in `wanted` that can run here; the others are listed with the reason. */
export async function loadImplementations(wanted: ReadonlySet<string>): Promise<Implementations> {
  let data: { key: string; keys: Float32Array; values: Float32Array } | null = null;
  const cellData = (cell: Cell) => {
    const key = `${cell.heads}x${cell.headDim}x${cell.n}`;
    if (data === null || data.key !== key) {
      data = null;
      const width = cell.heads * cell.headDim;
      data = { key, keys: tokenRows(SEED_KEY, cell.n + 1, width), values: tokenRows(SEED_VALUE, cell.n + 1, width) };
    }
    return data;
  };
  const list: DecodeImplementation[] = [];
  const skipped: Skipped[] = [];
  const versions: Record<string, string> = { node: process.version, attnstream: versionAt(ROOT) };
  const settings: Record<string, string> = {};
  const closers: (() => Promise<void>)[] = [];
  let native: LineProtocolChild | null = null;

  list.push(attnstreamImplementation(cellData));
  if (wanted.has('attnstream-js')) list.push(attnstreamImplementation(cellData, 'js'));
  if (wanted.has('attnstream-2t')) {
    const pool = await createThreadPool(2);
    closers.push(() => pool.close());
    list.push(attnstreamImplementation(cellData, 'auto', pool));
  }
  // 'auto' falls back to the TypeScript loops where the runtime lacks WebAssembly SIMD: say which ran.
  const probe = createAttention(engineOptions(1, 8));
  const wasm = wasmArena()?.fused ? 'WebAssembly SIMD, the fused build: relaxed SIMD multiply-adds' : 'WebAssembly SIMD';
  settings.attnstream = `kernels 'auto' resolve to '${probe.options.kernels}' (${probe.options.kernels === 'wasm' ? wasm : 'the TypeScript loops'})`;
  probe.dispose();
  if (wanted.has('plain-js')) list.push(plainLoopsImplementation(cellData));

  // gcc and python3 start in the background while the JavaScript peers load.
  const wantsC = wanted.has('c-1t') || wanted.has('c-2t');
  const compiling = wantsC ? compileReference(join(BENCH, 'c', 'attention.c')) : null;
  const probingNumpy = wanted.has('numpy') ? probeNumpy() : null;
  const loadingPeers = loadJavaScriptPeers(wanted, cellData, versions, settings, skipped);

  if (compiling !== null) {
    const compiled = await compiling;
    if ('skipped' in compiled) {
      for (const id of ['c-1t', 'c-2t']) if (wanted.has(id)) skipped.push({ id, reason: compiled.skipped });
    } else {
      versions.gcc = compiled.gcc;
      settings.C = `gcc ${GCC_FLAGS.join(' ')}`;
      closers.push(compiled.cleanup);
      for (const threads of [1, 2]) {
        const id = `c-${threads}t`;
        if (!wanted.has(id)) continue;
        const child = new LineProtocolChild(compiled.binary, []);
        native ??= child;
        list.push(childImplementation(id, `C reference, ${threads} thread${threads > 1 ? 's' : ''}`, child, threads));
      }
    }
  }

  if (probingNumpy !== null) {
    const numpy = await probingNumpy;
    if ('skipped' in numpy) skipped.push({ id: 'numpy', reason: numpy.skipped });
    else {
      versions.numpy = numpy.version;
      versions.python = numpy.python;
      settings.numpy = `default BLAS threading (OMP_NUM_THREADS=${process.env.OMP_NUM_THREADS ?? 'unset'}, OPENBLAS_NUM_THREADS=${process.env.OPENBLAS_NUM_THREADS ?? 'unset'})`;
      list.push(childImplementation('numpy', 'numpy (batched matmul)', new LineProtocolChild('python3', [join(BENCH, 'py', 'attention.py')]), 1));
    }
  }

  list.push(...(await loadingPeers));

  return {
    list,
    skipped,
    versions,
    settings,
    native,
    cellData,
    releaseCellData: () => {
      data = null;
    },
    async close() {
      for (const impl of list) await impl.close();
      for (const close of closers) await close();
    },
  };
}

/** onnxruntime-node and tfjs (cpu, wasm), each when asked for and loadable; what fails to load is listed in `skipped`. */
async function loadJavaScriptPeers(
  wanted: ReadonlySet<string>,
  cellData: CellData,
  versions: Record<string, string>,
  settings: Record<string, string>,
  skipped: Skipped[],
): Promise<DecodeImplementation[]> {
  const peers: DecodeImplementation[] = [];
  if (wanted.has('ort-matmul') || wanted.has('ort-attention')) {
    try {
      const ort = await import('onnxruntime-node');
      versions['onnxruntime-node'] = packageVersion('onnxruntime-node');
      settings['onnxruntime-node'] = 'default session options (intra-op threads chosen by onnxruntime), CPU execution provider';
      if (wanted.has('ort-matmul')) peers.push(onnxMatMulImplementation(ort, cellData));
      if (wanted.has('ort-attention')) peers.push(onnxAttentionImplementation(ort, cellData));
    } catch (error) {
      for (const id of ['ort-matmul', 'ort-attention']) {
        if (wanted.has(id)) skipped.push({ id, reason: `onnxruntime-node does not load here: ${(error as Error).message.split('\n')[0]}` });
      }
    }
  }

  if (wanted.has('tfjs-cpu') || wanted.has('tfjs-wasm')) {
    try {
      const tf = await import('@tensorflow/tfjs-core');
      await import('@tensorflow/tfjs-backend-cpu');
      // Production mode: no debug checks, and no console advice to install tfjs-node.
      tf.enableProdMode();
      versions['@tensorflow/tfjs-core'] = packageVersion('@tensorflow/tfjs-core');
      if (wanted.has('tfjs-cpu')) {
        versions['@tensorflow/tfjs-backend-cpu'] = packageVersion('@tensorflow/tfjs-backend-cpu');
        peers.push(tfjsImplementation(tf, 'cpu', 'tfjs, cpu backend (JavaScript kernels)', cellData));
      }
      if (wanted.has('tfjs-wasm')) {
        try {
          await import('@tensorflow/tfjs-backend-wasm');
          if (!(await tf.setBackend('wasm'))) throw new Error('setBackend(wasm) returned false');
          const simd = String(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
          const threads = String(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
          versions['@tensorflow/tfjs-backend-wasm'] = packageVersion('@tensorflow/tfjs-backend-wasm');
          settings['tfjs-wasm'] = `SIMD ${simd}, multithreading ${threads}`;
          peers.push(tfjsImplementation(tf, 'wasm', 'tfjs, wasm backend', cellData));
        } catch (error) {
          skipped.push({ id: 'tfjs-wasm', reason: `the tfjs wasm backend does not start here: ${(error as Error).message.split('\n')[0]}` });
        }
      }
    } catch (error) {
      for (const id of ['tfjs-cpu', 'tfjs-wasm']) {
        if (wanted.has(id)) skipped.push({ id, reason: `@tensorflow/tfjs-core does not load here: ${(error as Error).message.split('\n')[0]}` });
      }
    }
  }
  return peers;
}
