import { defineConfig } from 'vitest/config';

/**
 * The suites whose numbers come from the WebAssembly kernels, run a second time on their fused
 * build (relaxed SIMD's multiply-adds), which the arena picks wherever the runtime validates it.
 * Node 20 runs relaxed SIMD only behind a V8 flag, so this project passes it; from Node 22 on the
 * fused build is the default one.
 */
const KERNEL_SUITES = [
  'wasm-kernels', 'wasm-arena', 'arena-weights', 'engine-equivalence', 'threads', 'linear', 'push-each', 'grouped-query',
  'int8-cache', 'reference-vectors', 'cross-attention', 'score-cap', 'sink-logits', 'positions', 'tiny-llama', 'biases',
].map((name) => `test/${name}.test.ts`);
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

export default defineConfig({
  test: {
    testTimeout: 60_000,
    setupFiles: ['test/support/fast-check-size.ts'],
    // `npm run coverage`: the generated kernel module and the .wat text are not code v8 can count.
    coverage: { include: ['src/**/*.ts'], exclude: ['src/kernels/wasm/attention-wasm.generated.ts'], reporter: ['text-summary', 'html'] },
    projects: [
      { extends: true, test: { name: 'all', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'fused kernels', include: KERNEL_SUITES, execArgv: NODE_MAJOR < 22 ? ['--experimental-wasm-relaxed-simd'] : [] },
      },
    ],
  },
});
