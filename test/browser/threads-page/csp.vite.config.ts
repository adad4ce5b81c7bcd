// The threads page under a Content-Security-Policy that allows workers from the page's origin only,
// not from blob: URLs, which the browser pool starts its workers from.
import { defineConfig, mergeConfig } from 'vite';
import page from './vite.config.js';

const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Content-Security-Policy': "worker-src 'self'",
};

export default mergeConfig(page, defineConfig({ server: { headers: HEADERS }, preview: { headers: HEADERS } }));
