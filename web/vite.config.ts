/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';
import tailwindcss from '@tailwindcss/vite';

// `npm run dev` proxies the API to a server on 8080; `make build` runs
// `vite build` into the build directory and embeds the result (cmake/RgWeb.cmake).
const api = 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [preact(), tailwindcss()],
  build: {
    target: 'es2022',
    assetsDir: 'assets',
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: {
    // a page load of /admin (the app's own route) stays with the dev server
    proxy: Object.fromEntries(
      ['/v1', '/auth', '/admin', '/chat', '/status', '/jobs'].map((p) => [
        p,
        { target: api, bypass: (req: { headers: { accept?: string } }) => (req.headers.accept?.includes('text/html') ? '/index.html' : undefined) },
      ]),
    ),
  },
  test: { include: ['src/**/*.test.ts'], environment: 'node' },
});
