// `npm run browser` serves this page; test/browser builds it with this config.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  build: { target: 'es2022', emptyOutDir: true },
  server: { host: '127.0.0.1' },
});
