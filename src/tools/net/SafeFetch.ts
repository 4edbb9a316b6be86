/**
 * An HTTP client for requests the model asks for. Each hop (the first URL and every redirect,
 * followed by hand) is checked before any connection: the scheme, the host name, and every
 * address the name resolves to. The socket then connects to exactly the checked addresses (a
 * pinned `lookup`), so a DNS answer that changes between check and connect (rebinding) cannot
 * redirect it; the Host header and TLS server name stay those of the URL. The body is read as a
 * stream and cut at `maxBytes`; interruption (a timeout, a stopped turn) aborts the request.
 */
import { Data, Duration, Effect } from "effect"
import * as dns from "node:dns"
import * as http from "node:http"
import * as https from "node:https"
import * as net from "node:net"
import * as zlib from "node:zlib"
import { type AddressPolicy, checkHostname, isMetadataEndpoint, publicOnly } from "./AddressPolicy.ts"

export interface ResolvedAddress {
  readonly address: string
  readonly family: 4 | 6
}

/** Resolves a host name to all its addresses (the system resolver by default). */
export type Resolver = (hostname: string) => Promise<ReadonlyArray<ResolvedAddress>>

export const systemResolver: Resolver = async (hostname) => {
  const answers = await dns.promises.lookup(hostname, { all: true, verbatim: true })
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }))
}

export interface SafeFetchOptions {
  readonly allowPrivateNetworks: boolean
  /** The whole request: every hop and the body. */
  readonly timeout: Duration.DurationInput
  readonly maxBytes: number
  readonly maxRedirects: number
  readonly userAgent: string
  readonly resolver?: Resolver
  /** Used when private networks are not allowed (default `publicOnly`); tests narrow it. */
  readonly addressPolicy?: AddressPolicy
}

export interface SafeRequest {
  readonly method: string
  readonly url: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string
}

export interface SafeResponse {
  /** The URL that answered, after redirects. */
  readonly url: string
  readonly status: number
  readonly statusText: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
  /** The body was longer than `maxBytes` and was cut there. */
  readonly truncated: boolean
  /** URLs that redirected, in order. */
  readonly redirects: ReadonlyArray<string>
}

export type FetchFailure = "invalid_url" | "blocked" | "dns" | "network" | "too_many_redirects" | "timeout"

export class FetchError extends Data.TaggedError("FetchError")<{
  readonly reason: FetchFailure
  readonly message: string
}> {}

const redirectStatuses = new Set([301, 302, 303, 307, 308])
/** Headers the client sets itself, or that would let a request smuggle another. */
const forbiddenRequestHeaders = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "expect",
  "proxy-authorization",
  "proxy-connection",
  "accept-encoding"
])
/**
 * The only headers sent on to another origin after a redirect: any other header may carry a
 * credential meant for the first origin (Authorization, Cookie, X-Api-Key, Private-Token...).
 */
const crossOriginHeaders = new Set([
  "accept",
  "accept-language",
  "content-language",
  "content-type",
  "user-agent",
  "cache-control",
  "pragma"
])
/** What Node accepts in a header value (RFC 9110 field-value: visible ASCII, space, tab, obs-text). */
const headerValue = /^[\t\x20-\x7e\x80-\xff]*$/

/** Request headers as the model may set them; throws a message naming the bad header. */
export const checkRequestHeaders = (headers: Readonly<Record<string, string>>): string | undefined => {
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) return `"${name}" is not a valid header name`
    if (forbiddenRequestHeaders.has(name.toLowerCase())) {
      return `the "${name}" header is set by the client and cannot be given`
    }
    if (/[\r\n]/.test(value)) return `the value of "${name}" contains a line break`
    if (!headerValue.test(value)) {
      return `the value of "${name}" contains a control character or a character outside Latin-1`
    }
  }
  return undefined
}

export const make = (options: SafeFetchOptions) => {
  const resolver = options.resolver ?? systemResolver
  const policy = options.addressPolicy ?? publicOnly
  const timeout = Duration.decode(options.timeout)

  /** The addresses a hop may connect to, or why it may not. */
  const vet = (url: URL): Effect.Effect<ReadonlyArray<ResolvedAddress>, FetchError> =>
    Effect.gen(function*() {
      const host = hostOf(url)
      if (isMetadataEndpoint(host)) return yield* blocked(`${host} is a cloud metadata service`)
      if (!options.allowPrivateNetworks) {
        const byName = checkHostname(host)
        if (!byName.allowed) return yield* blocked(byName.reason)
      }
      const family = net.isIP(host)
      const addresses: ReadonlyArray<ResolvedAddress> = family !== 0
        ? [{ address: host, family: family === 6 ? 6 : 4 }]
        : yield* Effect.tryPromise({
          try: () => resolver(host),
          catch: (error) => new FetchError({ reason: "dns", message: `cannot resolve ${host}: ${errorText(error)}` })
        })
      if (addresses.length === 0) {
        return yield* Effect.fail(new FetchError({ reason: "dns", message: `${host} has no address` }))
      }
      for (const { address } of addresses) {
        if (isMetadataEndpoint(address)) {
          return yield* blocked(`${host} resolves to ${address}, a cloud metadata address`)
        }
        if (options.allowPrivateNetworks) continue
        const verdict = policy(address)
        if (!verdict.allowed) {
          return yield* blocked(host === address ? verdict.reason : `${host} resolves to ${address}: ${verdict.reason}`)
        }
      }
      return addresses
    })

  const fetch = (request: SafeRequest): Effect.Effect<SafeResponse, FetchError> =>
    Effect.gen(function*() {
      let url = yield* parseUrl(request.url)
      let method = request.method.toUpperCase()
      let body = request.body
      let headers: Record<string, string> = { ...request.headers }
      const redirects: Array<string> = []
      for (;;) {
        const addresses = yield* vet(url)
        const hop = yield* send(url, method, headers, body, addresses, options)
        if (hop._tag === "Response") return { ...hop.response, url: url.toString(), redirects }
        if (redirects.length >= options.maxRedirects) {
          return yield* Effect.fail(
            new FetchError({ reason: "too_many_redirects", message: `more than ${options.maxRedirects} redirects` })
          )
        }
        const next = yield* parseUrl(hop.location, url)
        redirects.push(url.toString())
        // As browsers do: 303 (and 301/302 after a POST) turn into a GET without a body.
        if (
          hop.status === 303 && method !== "HEAD" || (hop.status === 301 || hop.status === 302) && method === "POST"
        ) {
          method = "GET"
          body = undefined
          headers = withoutHeaders(headers, new Set(["content-type"]))
        }
        if (next.origin !== url.origin) headers = onlyHeaders(headers, crossOriginHeaders)
        url = next
      }
    }).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          new FetchError({ reason: "timeout", message: `no complete answer within ${Duration.format(timeout)}` })
      })
    )

  return { fetch, vet }
}

const blocked = (message: string) =>
  Effect.fail(
    new FetchError({ reason: "blocked", message: `refused: ${message} (private and local networks are not allowed)` })
  )

const errorText = (error: unknown) =>
  error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : String(error)

/** The host of a URL without IPv6 brackets. */
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, "$1")

const parseUrl = (text: string, base?: URL): Effect.Effect<URL, FetchError> =>
  Effect.suspend(() => {
    let url: URL
    try {
      url = new URL(text, base)
    } catch {
      return Effect.fail(
        new FetchError({ reason: "invalid_url", message: `${JSON.stringify(text)} is not a valid URL` })
      )
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return Effect.fail(
        new FetchError({ reason: "invalid_url", message: `only http and https URLs are allowed, not ${url.protocol}` })
      )
    }
    if (url.username !== "" || url.password !== "") {
      return Effect.fail(
        new FetchError({
          reason: "invalid_url",
          message: "credentials in the URL are not supported; use an Authorization header"
        })
      )
    }
    url.hash = ""
    return Effect.succeed(url)
  })

const withoutHeaders = (headers: Record<string, string>, names: ReadonlySet<string>) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => !names.has(name.toLowerCase())))

const onlyHeaders = (headers: Record<string, string>, names: ReadonlySet<string>) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => names.has(name.toLowerCase())))

/** A `lookup` that answers only with the addresses already checked for this hop. */
const pinnedLookup = (addresses: ReadonlyArray<ResolvedAddress>): net.LookupFunction =>
  ((_hostname: string, options: dns.LookupOptions | number, callback: (...args: Array<unknown>) => void) => {
    const opts = typeof options === "object" && options !== null ? options : {}
    const family = typeof options === "number" ? options : opts.family
    const candidates = family === 4 || family === 6 ? addresses.filter((a) => a.family === family) : addresses
    if (candidates.length === 0) {
      const error: NodeJS.ErrnoException = new Error("no checked address of the requested family")
      error.code = "ENOTFOUND"
      return callback(error)
    }
    if (opts.all === true) return callback(null, candidates.map((a) => ({ address: a.address, family: a.family })))
    return callback(null, candidates[0]!.address, candidates[0]!.family)
  }) as unknown as net.LookupFunction

type Hop =
  | { readonly _tag: "Redirect"; readonly status: number; readonly location: string }
  | { readonly _tag: "Response"; readonly response: Omit<SafeResponse, "url" | "redirects"> }

/** One request/response, with the body streamed and capped; interruption destroys the socket. */
const send = (
  url: URL,
  method: string,
  headers: Readonly<Record<string, string>>,
  body: string | undefined,
  addresses: ReadonlyArray<ResolvedAddress>,
  options: SafeFetchOptions
): Effect.Effect<Hop, FetchError> =>
  Effect.async<Hop, FetchError>((resume, signal) => {
    const host = hostOf(url)
    const payload = body === undefined ? undefined : Buffer.from(body, "utf8")
    const requestHeaders: Record<string, string> = {
      "user-agent": options.userAgent,
      "accept": "application/json, text/html;q=0.9, text/*;q=0.8, */*;q=0.5",
      ...headers,
      "accept-encoding": "gzip, deflate, br",
      ...(payload === undefined ? {} : { "content-length": String(payload.length) })
    }
    let settled = false
    const done = (effect: Effect.Effect<Hop, FetchError>) => {
      if (settled) return
      settled = true
      resume(effect)
    }
    const failed = (error: unknown) =>
      done(
        Effect.fail(
          new FetchError({ reason: "network", message: `request to ${url.host} failed: ${errorText(error)}` })
        )
      )

    const client = url.protocol === "https:" ? https : http
    let req: http.ClientRequest
    try {
      req = client.request({
        protocol: url.protocol,
        hostname: host,
        port: url.port === "" ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method,
        headers: requestHeaders,
        lookup: pinnedLookup(addresses),
        // A fresh connection per hop: a pooled socket might lead to an address checked for another hop.
        agent: false,
        signal,
        ...(url.protocol === "https:" && net.isIP(host) === 0 ? { servername: host } : {})
      })
    } catch (error) {
      // Node validates headers and options synchronously: whatever it refuses is a failed request.
      failed(error)
      return
    }
    req.on("error", failed)
    req.on("response", (res) => {
      const status = res.statusCode ?? 0
      const location = res.headers.location
      if (redirectStatuses.has(status) && typeof location === "string") {
        res.destroy()
        return done(Effect.succeed({ _tag: "Redirect", status, location }))
      }
      const responseHeaders = flattenHeaders(res.headers)
      const encoding = (responseHeaders["content-encoding"] ?? "").trim().toLowerCase()
      const stream = method === "HEAD" ? res : decoderFor(encoding, res)
      const chunks: Array<Buffer> = []
      let size = 0
      let truncated = false
      const finish = () =>
        done(Effect.succeed({
          _tag: "Response",
          response: {
            status,
            statusText: res.statusMessage ?? "",
            headers: responseHeaders,
            body: new Uint8Array(Buffer.concat(chunks)),
            truncated
          }
        }))
      stream.on("data", (chunk: Buffer) => {
        if (settled) return
        if (size + chunk.length <= options.maxBytes) {
          chunks.push(chunk)
          size += chunk.length
          return
        }
        chunks.push(chunk.subarray(0, options.maxBytes - size))
        size = options.maxBytes
        truncated = true
        finish()
        // Nothing more is read: drop the connection instead of downloading the rest.
        res.destroy()
        if (stream !== res) stream.destroy()
      })
      stream.on("end", finish)
      stream.on("error", failed)
      res.on("error", failed)
      res.on("aborted", () => failed(new Error("the connection closed before the end of the body")))
    })
    if (payload !== undefined) req.write(payload)
    req.end()
    return Effect.sync(() => req.destroy())
  })

const decoderFor = (encoding: string, res: http.IncomingMessage): NodeJS.ReadableStream & { destroy(): void } => {
  // The decompressed size is what `maxBytes` counts, so a compression bomb stops at the cap.
  switch (encoding) {
    case "gzip":
    case "x-gzip":
      return res.pipe(zlib.createGunzip())
    case "deflate":
      return res.pipe(zlib.createInflate())
    case "br":
      return res.pipe(zlib.createBrotliDecompress())
    default:
      return res
  }
}

const flattenHeaders = (headers: http.IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}
