// Bundles the daemon into dist/main.js. One tree-shaken file starts about twice as fast as
// Node resolving thousands of modules from the libraries' barrel files; native and optional
// modules stay external and load from node_modules.
import * as esbuild from "esbuild"

const common = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  legalComments: "none",
  logLevel: "warning",
  // mathjs is loaded on the calculator's first use: keeping it out of the bundle saves ~60 MB.
  external: ["better-sqlite3", "pg-native", "bufferutil", "utf-8-validate", "msgpackr-extract", "mathjs"],
  // Bundled CommonJS modules call require(): give them one in the ES module scope.
  banner: {
    js:
      "import { createRequire as __minibotCreateRequire } from 'node:module'; const require = __minibotCreateRequire(import.meta.url);"
  }
}

await esbuild.build({ ...common, entryPoints: ["src/main.ts"], outfile: "dist/main.js" })
// HTML to text runs in a worker thread (src/tools/text/HtmlToText.ts), which loads this file beside main.js.
await esbuild.build({
  ...common,
  entryPoints: ["src/tools/text/HtmlToTextWorker.mjs"],
  outfile: "dist/html-to-text-worker.js"
})
