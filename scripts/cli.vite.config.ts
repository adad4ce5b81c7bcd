// Bundles the `attnstream` command (src/cli/main.ts) into one file, dist/cli/main.js, for the
// package's "bin". Bundled rather than compiled by tsc because the command needs rxjs, an
// optional peer dependency of the library that a user of the command should not have to install. The data file and package.json stay
// where they are and are read at run time relative to dist/cli/.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  logLevel: 'warn',
  build: {
    ssr: 'src/cli/main.ts',
    outDir: 'dist/cli',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    sourcemap: false,
    copyPublicDir: false,
    rollupOptions: { output: { entryFileNames: 'main.js' } },
  },
  ssr: { noExternal: true },
});
