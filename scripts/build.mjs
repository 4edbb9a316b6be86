// Builds dist/: the daemon and the dashboard. The daemon is bundled into main.js, the small entry that turns on Node's compile cache, and
// the program in one chunk it loads; and the HTML-to-text worker. One tree-shaken file starts
// about twice as fast as Node resolving thousands of modules from the libraries' barrel files;
// native and optional modules stay external and load from node_modules.
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import { build as viteBuild } from "vite"

// Chunk names carry a hash: start clean so old ones do not pile up.
fs.rmSync("dist", { recursive: true, force: true })

/** ES imports of node:http go to the shim that requires it (scripts/shims/node-http.mjs says why). */
const httpByRequire = {
  name: "node-http-by-require",
  setup(build) {
    build.onResolve(
      { filter: /^(node:)?http$/ },
      (args) =>
        args.kind === "import-statement" && !args.importer.endsWith("node-http.mjs")
          ? { path: new URL("./shims/node-http.mjs", import.meta.url).pathname }
          : undefined
    )
  }
}

/**
 * markdown-it writes a few typographic characters into regular expressions, which esbuild leaves
 * as they are (it escapes them in strings only). One non-ASCII character makes V8 hold the whole
 * chunk's source as a two-byte string, twice its size in memory for as long as the daemon runs
 * (0.8 MB); as \u escapes they mean the same in a string, a regular expression or a comment.
 */
const asciiMarkdownIt = {
  name: "ascii-markdown-it",
  setup(build) {
    build.onLoad({ filter: /[\\/]markdown-it[\\/]dist[\\/]markdown-it\.mjs$/ }, async (args) => ({
      contents: (await fs.promises.readFile(args.path, "utf8")).replace(
        /[^\0-\x7f]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`
      ),
      loader: "js"
    }))
  }
}

const common = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  sourcemap: true,
  legalComments: "none",
  // Classes keep their names: libraries check them (node-fetch, under grammY, accepts a signal
  // whose class is named AbortSignal; a bundle renames clashing class names otherwise).
  keepNames: true,
  // Less code to parse, compile and keep in memory at every start; identifiers keep their names
  // (minifyIdentifiers stays off) so stack traces and the libraries' name checks still read.
  minifySyntax: true,
  minifyWhitespace: true,
  logLevel: "warning",
  // mathjs is loaded on the calculator's first use: keeping it out of the bundle saves ~60 MB.
  external: ["better-sqlite3", "pg-native", "bufferutil", "utf-8-validate", "msgpackr-extract", "mathjs"],
  // Node's own punycode module is deprecated (a warning at every start on Node 22+): the same
  // code from npm instead.
  plugins: [httpByRequire, asciiMarkdownIt],
  alias: { punycode: "punycode.js", "whatwg-url": "./scripts/shims/whatwg-url.mjs" },
  // Bundled CommonJS modules call require(): give them one in the ES module scope.
  banner: {
    js:
      "import { createRequire as __minibotCreateRequire } from 'node:module'; const require = __minibotCreateRequire(import.meta.url);"
  }
}

await esbuild.build({
  ...common,
  entryPoints: { main: "src/start.ts" },
  outdir: "dist",
  splitting: true,
  chunkNames: "[name]-[hash]"
})
// HTML to text runs in a worker thread (src/tools/text/HtmlToText.ts), which loads this file beside main.js.
await esbuild.build({
  ...common,
  entryPoints: ["src/tools/text/HtmlToTextWorker.mjs"],
  outfile: "dist/html-to-text-worker.js"
})
// Markdown rendering for Telegram runs in a worker thread too (src/channels/telegram/FormatWorker.ts).
await esbuild.build({
  ...common,
  entryPoints: ["src/channels/telegram/TelegramFormatWorker.mjs"],
  outfile: "dist/telegram-format-worker.js"
})
// A PDF's text is read in a worker thread too (src/media/PdfText.ts): dist/pdf-text-worker.js.
await esbuild.build({
  ...common,
  entryPoints: ["src/media/PdfTextWorker.mjs"],
  outfile: "dist/pdf-text-worker.js"
})
// The dashboard (admin/, served at /admin): a single-page app in dist/admin, built by Vite.
await viteBuild({ configFile: "admin/vite.config.mjs" })
