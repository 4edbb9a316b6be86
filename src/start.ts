/**
 * The process entry (`dist/main.js`): turns on Node's compile cache (Node 22.1+), then loads the
 * program. The program is a separate file so it is loaded after the cache is on, and later starts
 * skip compiling it again.
 */
import * as Module from "node:module" // Not on older Node; there the program just starts uncached.
;(Module as { readonly enableCompileCache?: () => unknown }).enableCompileCache?.()

await import("./main.ts")
