/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';

// The Tauri shell embeds `dist/` (see src-tauri/tauri.conf.json) and, under
// `tauri dev`, loads the dev server from the fixed port below.
export default defineConfig({
  plugins: [svelte(), svelteTesting()],
  // Tauri prints its own Rust errors; Vite must not clear them away.
  clearScreen: false,
  server: {
    port: 1420,
    strictPort: true,
    watch: { ignored: ['**/src-tauri/**'] },
  },
  build: {
    // WebKitGTK 2.40+ on Debian 12 and WebView2 both handle ES2022.
    target: 'es2022',
    // Never ship source maps inside the binary.
    sourcemap: false,
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts'],
    setupFiles: ['src/test/setup.ts'],
  },
});
