import { defineConfig } from 'vite';

// The console's single-page app: plain TypeScript and DOM, no runtime dependencies, no CDN.
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false, reportCompressedSize: false },
  logLevel: 'warn',
});
