import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as zlib from "node:zlib"
import * as HttpRequestTool from "../../src/tools/builtin/HttpRequestTool.ts"
import { publicOnly } from "../../src/tools/net/AddressPolicy.ts"
import type { Resolver } from "../../src/tools/net/SafeFetch.ts"
import { ToolRegistry } from "../../src/tools/ToolRegistry.ts"
import { makeToolsConfig } from "../../src/tools/ToolsConfig.ts"
import { eventually } from "../support/Wait.ts"
import { callOf, contextFor, parse } from "./helpers.ts"

interface TestServer {
  readonly port: number
  /** Paths requested, in order. */
  readonly hits: Array<string>
  readonly hosts: Array<string>
  readonly localAddresses: Array<string>
  /** Sockets closed so far. */
  readonly closed: { count: number }
}

/** A loopback HTTP server for one test; "::" listens on IPv4 and IPv6 loopback alike. */
const serve = (handler: http.RequestListener, host = "::") =>
  Effect.acquireRelease(
    Effect.async<TestServer & { server: http.Server }>((resume) => {
      const hits: Array<string> = []
      const hosts: Array<string> = []
      const localAddresses: Array<string> = []
      const closed = { count: 0 }
      const server = http.createServer((req, res) => {
        hits.push(req.url ?? "")
        hosts.push(req.headers.host ?? "")
        localAddresses.push(req.socket.localAddress ?? "")
        req.socket.on("close", () => closed.count++)
        handler(req, res)
      })
      server.listen(0, host, () =>
        resume(
          Effect.succeed({ server, port: (server.address() as AddressInfo).port, hits, hosts, localAddresses, closed })
        ))
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

const routes: http.RequestListener = (req, res) => {
  const url = new URL(req.url ?? "/", "http://x")
  switch (url.pathname) {
    case "/json":
      res.setHeader("content-type", "application/json; charset=utf-8")
      return res.end(JSON.stringify({ answer: 42, items: ["a", "b"] }))
    case "/html":
      res.setHeader("content-type", "text/html")
      return res.end(
        "<html><head><script>var x = 1</script></head><body><h1>Title</h1><p>Hello <b>world</b></p></body></html>"
      )
    case "/echo": {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        res.setHeader("content-type", "application/json")
        res.end(JSON.stringify({
          method: req.method,
          contentType: req.headers["content-type"] ?? null,
          accept: req.headers["x-test"] ?? null,
          body: Buffer.concat(chunks).toString("utf8")
        }))
      })
      return
    }
    case "/big":
      res.setHeader("content-type", "text/plain")
      return res.end("x".repeat(200_000))
    case "/gzip-bomb":
      res.setHeader("content-type", "text/plain")
      res.setHeader("content-encoding", "gzip")
      return res.end(zlib.gzipSync(Buffer.alloc(5_000_000, "y")))
    case "/png":
      res.setHeader("content-type", "image/png")
      return res.end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]))
    case "/never":
      return // no answer at all
    case "/redirect":
      res.statusCode = 302
      res.setHeader("location", url.searchParams.get("to") ?? "/json")
      return res.end()
    case "/loop":
      res.statusCode = 301
      res.setHeader("location", "/loop")
      return res.end()
    case "/secret":
      res.setHeader("content-type", "text/plain")
      return res.end("internal secret")
    case "/headers":
      res.setHeader("content-type", "application/json")
      return res.end(JSON.stringify(req.headers))
    case "/host":
      res.setHeader("content-type", "text/plain")
      return res.end(`host=${req.headers.host}`)
    default:
      res.statusCode = 404
      return res.end("not found")
  }
}

const ctx = contextFor("u")

const toolWith = (httpClient: Record<string, unknown>, seams: HttpRequestTool.HttpRequestToolOptions = {}) => {
  const config = makeToolsConfig({ http_client: { enabled: true, ...httpClient } })
  const registry = ToolRegistry.make([HttpRequestTool.make(config.http_client, seams)])
  return (args: Record<string, unknown>) => Effect.map(registry.execute(callOf("http_request", args), ctx), parse)
}

describe("http_request with allow_private_networks = true (loopback test server)", () => {
  const request = toolWith({ allow_private_networks: true, timeout_seconds: 1, max_bytes: 1000 })

  it.scopedLive("returns JSON parsed, HTML as readable text, and sends bodies", () =>
    Effect.gen(function*() {
      const { port } = yield* serve(routes)
      const json = yield* request({ url: `http://127.0.0.1:${port}/json` })
      expect(json).toMatchObject({
        ok: true,
        result: { status: 200, body_type: "json", body: { answer: 42, items: ["a", "b"] }, truncated: false }
      })

      const html = yield* request({ url: `http://localhost:${port}/html` })
      expect(html.result.body_type).toBe("html")
      expect(html.result.body).toContain("Hello world")
      expect(html.result.body).toMatch(/TITLE|Title/)
      expect(html.result.body).not.toContain("<")
      expect(html.result.body).not.toContain("var x")

      const post = yield* request({
        url: `http://[::1]:${port}/echo`,
        method: "POST",
        headers: { "X-Test": "yes" },
        body: { name: "minibot" }
      })
      expect(post.result.body).toEqual({
        method: "POST",
        contentType: "application/json",
        accept: "yes",
        body: "{\"name\":\"minibot\"}"
      })

      const head = yield* request({ url: `http://127.0.0.1:${port}/json`, method: "HEAD" })
      expect(head.result).toMatchObject({ status: 200, body_type: "empty", body: null })

      const png = yield* request({ url: `http://127.0.0.1:${port}/png` })
      expect(png.result).toMatchObject({ body_type: "binary", body: null, note: expect.stringContaining("image/png") })

      const missing = yield* request({ url: `http://127.0.0.1:${port}/nope` })
      expect(missing.result).toMatchObject({ status: 404, body: "not found" })
    }))

  it.scopedLive("caps the body at max_bytes, compressed or not", () =>
    Effect.gen(function*() {
      const { port } = yield* serve(routes)
      const big = yield* request({ url: `http://127.0.0.1:${port}/big` })
      expect(big.result).toMatchObject({ status: 200, bytes: 1000, truncated: true })
      expect(big.result.body).toBe("x".repeat(1000))

      const bomb = yield* request({ url: `http://127.0.0.1:${port}/gzip-bomb` })
      expect(bomb.result).toMatchObject({ bytes: 1000, truncated: true })
      expect(bomb.result.body).toBe("y".repeat(1000))

      const small = yield* request({ url: `http://127.0.0.1:${port}/json` })
      expect(small.result.truncated).toBe(false)
    }))

  it.scopedLive("gives up on a server that never answers, and drops the connection", () =>
    Effect.gen(function*() {
      const server = yield* serve(routes)
      const started = Date.now()
      const out = yield* request({ url: `http://127.0.0.1:${server.port}/never` })
      expect(out.ok).toBe(false)
      expect(out.error).toContain("no complete answer within 1s")
      expect(Date.now() - started).toBeLessThan(2500)
      yield* eventually(() => server.closed.count > 0, "the dropped connection")
      expect(server.closed.count).toBe(1)
      expect(server.hits).toEqual(["/never"])
    }))

  it.scopedLive("follows redirects, up to a limit", () =>
    Effect.gen(function*() {
      const { port } = yield* serve(routes)
      const redirected = yield* request({ url: `http://127.0.0.1:${port}/redirect?to=/json` })
      expect(redirected.result).toMatchObject({
        url: `http://127.0.0.1:${port}/json`,
        redirects: [`http://127.0.0.1:${port}/redirect?to=/json`],
        body: { answer: 42 }
      })
      const loop = yield* request({ url: `http://127.0.0.1:${port}/loop` })
      expect(loop).toMatchObject({ ok: false, error: "more than 5 redirects" })
    }))

  it.effect("refuses other schemes and headers the client owns", () =>
    Effect.gen(function*() {
      expect(yield* request({ url: "file:///etc/passwd" })).toMatchObject({ ok: false, field: "url" })
      expect(yield* request({ url: "ftp://example.com/" })).toMatchObject({ ok: false, field: "url" })
      expect(yield* request({ url: "not a url" })).toMatchObject({ ok: false, field: "url" })
      expect(yield* request({ url: "http://example.com/", headers: { Host: "evil" } })).toMatchObject({
        ok: false,
        field: "headers"
      })
      expect(yield* request({ url: "http://example.com/", body: "x" })).toMatchObject({ ok: false, field: "body" })
      expect(yield* request({ url: "http://example.com/", method: "TRACE" })).toMatchObject({
        ok: false,
        field: "method"
      })
    }))

  it.scopedLive("a header value Node would refuse is a validation error naming the header", () =>
    Effect.gen(function*() {
      const server = yield* serve(routes)
      for (const value of ["a\u0001b", "tab\u007fdel", "euro €", "nul\u0000"]) {
        const out = yield* request({ url: `http://127.0.0.1:${server.port}/headers`, headers: { "X-Note": value } })
        expect(out, JSON.stringify(value)).toMatchObject({ ok: false, field: "headers" })
        expect(out.error).toContain(`"X-Note"`)
      }
      expect(server.hits).toEqual([])
      // Latin-1 text and tabs are valid header values and go through.
      const fine = yield* request({ url: `http://127.0.0.1:${server.port}/headers`, headers: { "X-Note": "café\tok" } })
      expect(fine.result.body["x-note"]).toBe("café\tok")
    }))

  it.scopedLive("across origins a redirect forwards only harmless headers; within one origin all of them", () =>
    Effect.gen(function*() {
      const { port } = yield* serve(routes)
      const headers = {
        "X-Api-Key": "k1",
        "Private-Token": "t1",
        "Authorization": "Bearer a1",
        "Cookie": "s=1",
        "X-Custom": "c",
        "Accept": "application/json",
        "Accept-Language": "fr"
      }
      const across = yield* request({
        url: `http://127.0.0.1:${port}/redirect?to=${encodeURIComponent(`http://localhost:${port}/headers`)}`,
        headers
      })
      const seen = across.result.body as Record<string, string>
      for (const name of ["x-api-key", "private-token", "authorization", "cookie", "x-custom"]) {
        expect(seen[name], name).toBeUndefined()
      }
      expect(seen).toMatchObject({ "accept": "application/json", "accept-language": "fr" })

      const within = yield* request({ url: `http://127.0.0.1:${port}/redirect?to=/headers`, headers })
      expect(within.result.body).toMatchObject({
        "x-api-key": "k1",
        "private-token": "t1",
        "authorization": "Bearer a1"
      })
    }))

  it.effect("never reaches a metadata address, whatever its encoding, even with private networks allowed", () =>
    Effect.gen(function*() {
      for (
        const host of ["[::a9fe:a9fe]", "[64:ff9b::a9fe:a9fe]", "[2002:a9fe:a9fe::1]", "168.63.129.16", "192.0.0.192"]
      ) {
        const out = yield* request({ url: `http://${host}/latest/meta-data/` })
        expect(out, host).toMatchObject({ ok: false, field: "url" })
        expect(out.error, host).toMatch(/cloud metadata/)
      }
    }))
})

describe("http_request with private networks disallowed (the default)", () => {
  const request = toolWith({ timeout_seconds: 2 })

  it.scopedLive("refuses loopback, private, link-local and metadata addresses without connecting", () =>
    Effect.gen(function*() {
      const server = yield* serve(routes)
      const port = server.port
      const cases: Array<[string, RegExp]> = [
        [`http://127.0.0.1:${port}/secret`, /127\.0\.0\.1 is a loopback address/],
        [`http://[::1]:${port}/secret`, /::1 is a loopback address/],
        [`http://localhost:${port}/secret`, /localhost is the local machine/],
        [`http://LOCALHOST.:${port}/secret`, /local machine/],
        [`http://[::ffff:127.0.0.1]:${port}/secret`, /embeds 127\.0\.0\.1/],
        [`http://2130706433:${port}/secret`, /127\.0\.0\.1 is a loopback address/],
        [`http://0.0.0.0:${port}/secret`, /unspecified/],
        ["http://10.0.0.1/", /10\.0\.0\.1 is a private network address/],
        ["http://172.16.5.4/", /private network/],
        ["http://192.168.1.1/", /private network/],
        ["http://100.64.0.1/", /carrier-grade NAT/],
        ["http://169.254.169.254/latest/meta-data/", /cloud metadata/],
        ["http://169.254.10.10/", /link-local/],
        ["http://[fe80::1]/", /link-local/],
        ["http://[fd00:ec2::254]/", /cloud metadata/],
        ["http://[fc00::1]/", /unique-local/],
        ["http://224.0.0.1/", /multicast/],
        ["http://255.255.255.255/", /broadcast/],
        ["http://metadata.google.internal/computeMetadata/v1/", /cloud metadata/]
      ]
      for (const [url, reason] of cases) {
        const started = Date.now()
        const out = yield* request({ url })
        expect(out, url).toMatchObject({ ok: false, field: "url" })
        expect(out.error, url).toMatch(/^refused: /)
        expect(out.error, url).toMatch(reason)
        expect(Date.now() - started, url).toBeLessThan(500)
      }
      expect(server.hits).toEqual([])
    }))

  it.effect("refuses a name that resolves to a private address", () =>
    Effect.gen(function*() {
      const resolver: Resolver = async (host) =>
        host === "intranet.test"
          ? [{ address: "10.1.2.3", family: 4 }]
          : [{ address: "93.184.216.34", family: 4 }, { address: "fd12::1", family: 6 }]
      const viaDns = toolWith({}, { resolver })
      const intranet = yield* viaDns({ url: "http://intranet.test/" })
      expect(intranet).toMatchObject({
        ok: false,
        field: "url",
        error: expect.stringContaining("intranet.test resolves to 10.1.2.3")
      })
      // One bad address among good ones is enough to refuse.
      const mixed = yield* viaDns({ url: "http://mixed.test/" })
      expect(mixed.error).toContain("mixed.test resolves to fd12::1")
    }))
})

describe("http_request redirects and DNS with private networks disallowed", () => {
  // The test server can only be on loopback, so this policy treats 127.0.0.1 (and only it) as a
  // public address; every other address is judged by the real policy. The server also listens on
  // 127.0.0.2 and ::1, so a missing check would show up as a hit on /secret.
  const policy = (address: string) => address === "127.0.0.1" ? { allowed: true as const } : publicOnly(address)
  const names: Record<string, ReadonlyArray<{ address: string; family: 4 | 6 }>> = {
    "public.test": [{ address: "127.0.0.1", family: 4 }],
    "internal.test": [{ address: "127.0.0.2", family: 4 }],
    "rebind.test": [{ address: "127.0.0.1", family: 4 }, { address: "127.0.0.2", family: 4 }]
  }
  const lookups: Array<string> = []
  const resolver: Resolver = async (host) => {
    lookups.push(host)
    const found = names[host]
    if (found === undefined) throw Object.assign(new Error("not found"), { code: "ENOTFOUND" })
    return found
  }
  const request = toolWith({ timeout_seconds: 2 }, { resolver, addressPolicy: policy })
  const unrestricted = toolWith({ allow_private_networks: true, timeout_seconds: 2 })

  it.scopedLive("the refused targets are reachable when allowed (so the refusals below can fail)", () =>
    Effect.gen(function*() {
      const server = yield* serve(routes)
      for (const host of ["127.0.0.2", "[::1]", "localhost"]) {
        const out = yield* unrestricted({ url: `http://${host}:${server.port}/secret` })
        expect(out.result, host).toMatchObject({ status: 200, body: "internal secret" })
      }
      expect(server.hits).toEqual(["/secret", "/secret", "/secret"])
    }))

  it.scopedLive("a redirect from an allowed server into a private address is refused before connecting", () =>
    Effect.gen(function*() {
      const server = yield* serve(routes)
      const port = server.port
      const start = `http://127.0.0.1:${port}/redirect?to=`

      // Control: a redirect to an allowed address is followed.
      const followed = yield* request({ url: `${start}${encodeURIComponent(`http://public.test:${port}/json`)}` })
      expect(followed.result).toMatchObject({ status: 200, body: { answer: 42 } })

      const targets: Array<[string, RegExp]> = [
        [`http://127.0.0.2:${port}/secret`, /127\.0\.0\.2 is a loopback address/],
        [`http://[::1]:${port}/secret`, /::1 is a loopback address/],
        [`http://localhost:${port}/secret`, /localhost is the local machine/],
        [`http://internal.test:${port}/secret`, /internal\.test resolves to 127\.0\.0\.2/],
        [`http://rebind.test:${port}/secret`, /rebind\.test resolves to 127\.0\.0\.2/],
        ["http://10.0.0.1/secret", /private network/],
        ["http://169.254.169.254/latest/meta-data/", /cloud metadata/]
      ]
      for (const [target, reason] of targets) {
        const out = yield* request({ url: `${start}${encodeURIComponent(target)}` })
        expect(out, target).toMatchObject({ ok: false, field: "url" })
        expect(out.error, target).toMatch(reason)
      }
      expect(server.hits.filter((path) => path.startsWith("/secret"))).toEqual([])
      expect(server.hits.filter((path) => path.startsWith("/redirect"))).toHaveLength(targets.length + 1)
    }))

  it.scopedLive("connects to the address it checked, with the Host header of the URL", () =>
    Effect.gen(function*() {
      const server = yield* serve(routes)
      lookups.length = 0
      // "public.test" exists only in the injected resolver: the system resolver could not find it.
      const out = yield* request({ url: `http://public.test:${server.port}/host` })
      expect(out.result).toMatchObject({ status: 200, body: `host=public.test:${server.port}` })
      expect(lookups).toEqual(["public.test"])
      expect(server.localAddresses.map((a) => a.replace(/^::ffff:/, ""))).toEqual(["127.0.0.1"])
    }))
})
