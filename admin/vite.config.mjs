// The dashboard's build (`npm run build` runs it through scripts/build.mjs) and its dev server:
// `npx vite --config admin/vite.config.mjs` serves the app with /api proxied to a running daemon
// (MINIBOT_URL, default http://127.0.0.1:8080).
import { defineConfig } from "vite"

export default defineConfig({
  root: import.meta.dirname,
  base: "/admin/",
  logLevel: "warn",
  // JSX through esbuild, for Preact: no framework plugin needed.
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "../dist/admin",
    emptyOutDir: true,
    target: "es2022",
    // No inline script: the page's Content-Security-Policy allows only files of this origin.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1024
  },
  server: {
    proxy: { "/api": process.env.MINIBOT_URL ?? "http://127.0.0.1:8080" }
  }
})
