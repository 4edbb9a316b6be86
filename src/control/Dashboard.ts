/**
 * The dashboard at `/admin`: the single-page app that `npm run build` puts in `dist/admin/`
 * (source in `admin/`), served from memory with its content types. Paths that are not files go
 * to `index.html` (the app routes them itself); a missing asset is a 404, never HTML in place of
 * a script. Nothing is fetched from elsewhere at run time: the page's policy allows only this origin.
 *
 * The files are the same for everyone and hold no data: they are served without the token, like
 * a login page. Everything the app shows comes from `/api`, which needs the token or the session
 * cookie (ApiAuth); without a token the server listens on loopback only (ControlServer).
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { ControlRoutes } from "./ControlRoutes.ts"

/** Where the built app is: beside the bundle (`dist/admin`), or `dist/admin` of the checkout when run from source. */
const candidates = [new URL("./admin/", import.meta.url), new URL("../../dist/admin/", import.meta.url)]

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".woff2": "font/woff2",
  ".map": "application/json"
}

const securityHeaders = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer"
}

interface Asset {
  readonly body: Uint8Array
  readonly contentType: string
}

/** Every file of the built app by its URL path under `/admin/`. */
const loadAssets = (root: string): ReadonlyMap<string, Asset> => {
  const assets = new Map<string, Asset>()
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(file)
      else {
        const urlPath = path.relative(root, file).split(path.sep).join("/")
        assets.set(urlPath, {
          body: fs.readFileSync(file),
          contentType: contentTypes[path.extname(file)] ?? "application/octet-stream"
        })
      }
    }
  }
  walk(root)
  return assets
}

const notBuilt = HttpServerResponse.text(
  "The dashboard is not built: run `npm run build` (npm ci runs it), then restart.\n",
  { status: 404 }
)

export const DashboardRoutes = ControlRoutes.use((router) =>
  Effect.gen(function*() {
    const root = candidates.map((url) => fileURLToPath(url)).find((dir) => fs.existsSync(path.join(dir, "index.html")))
    if (root === undefined) {
      yield* Effect.logWarning("the dashboard is not built (no dist/admin/index.html): /admin answers 404")
      yield* router.get("/admin", notBuilt)
      yield* router.get("/admin/*", notBuilt)
      return
    }
    const assets = yield* Effect.sync(() => loadAssets(root))
    const index = assets.get("index.html")!

    const serve = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const pathname = decodeURIComponent(new URL(request.url, "http://localhost").pathname)
      const file = pathname.replace(/^\/admin\/?/, "")
      const asset = assets.get(file)
      if (asset !== undefined && file !== "index.html") {
        return HttpServerResponse.uint8Array(asset.body, {
          contentType: asset.contentType,
          // Vite names assets by their content: a new build has new names.
          headers: {
            ...securityHeaders,
            "cache-control": file.startsWith("assets/") ? "public, max-age=31536000, immutable" : "no-cache"
          }
        })
      }
      // A path that names a file (has an extension) and is not there is missing, not a page.
      if (/\.[a-z0-9]+$/i.test(file)) return HttpServerResponse.text("not found\n", { status: 404 })
      return HttpServerResponse.uint8Array(index.body, {
        contentType: index.contentType,
        headers: { ...securityHeaders, "cache-control": "no-cache" }
      })
    }).pipe(Effect.catchAllDefect(() => Effect.succeed(HttpServerResponse.text("bad path\n", { status: 400 }))))

    yield* router.get("/admin", serve)
    yield* router.get("/admin/*", serve)
  })
)
