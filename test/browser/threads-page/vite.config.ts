// A page that runs attnstream/threads' browser pool; cross-origin isolated, as SharedArrayBuffer needs.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const ISOLATED = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  logLevel: 'warn',
  build: { target: 'es2022', emptyOutDir: true },
  server: { host: '127.0.0.1', headers: ISOLATED },
  preview: { headers: ISOLATED },
});
