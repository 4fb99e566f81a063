// Vite config for the browser app; Vitest reads its own vitest.config.ts.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  build: { target: 'es2022', sourcemap: true },
  worker: { format: 'es' },
  // The dev server finds dependencies by crawling from these entries; without the worker it found the
  // worker's (Arrow, Parquet, zip, jinja) only on the first dataset action and re-optimised mid-session.
  optimizeDeps: { entries: ['index.html', 'src/grpo/worker/worker.ts'] },
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
});
