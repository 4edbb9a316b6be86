/**
 * `http_request`: fetches a URL for the model through `SafeFetch` (public addresses only unless
 * `[tools.http_client] allow_private_networks = true`). HTML comes back as readable text, JSON
 * as a value, other text as text, binary content as a short summary.
 */
import { Duration, Effect, Schema } from "effect"
import type { AddressPolicy } from "../net/AddressPolicy.ts"
import * as SafeFetch from "../net/SafeFetch.ts"
import * as HtmlToText from "../text/HtmlToText.ts"
import * as Tool from "../Tool.ts"
import type { ToolGroup } from "../ToolRegistry.ts"
import { type HttpClientConfig, ToolsSettings } from "../ToolsConfig.ts"

const maxUrlLength = 2048
/** The tool's own limit leaves SafeFetch and HtmlToText time to report their clearer timeouts first. */
const timeoutMargin = Duration.seconds(2)
const reportedHeaders = [
  "content-type",
  "content-length",
  "content-language",
  "last-modified",
  "etag",
  "date",
  "retry-after",
  "cache-control"
]

/** Test seams: the resolver and the address policy (see `SafeFetchOptions`). */
export interface HttpRequestToolOptions {
  readonly resolver?: SafeFetch.Resolver
  readonly addressPolicy?: AddressPolicy
}

export const make = (config: HttpClientConfig, seams: HttpRequestToolOptions = {}): Tool.Tool => {
  const client = SafeFetch.make({
    allowPrivateNetworks: config.allow_private_networks,
    timeout: Duration.seconds(config.timeout_seconds),
    maxBytes: config.max_bytes,
    maxRedirects: config.max_redirects,
    userAgent: config.user_agent,
    ...seams
  })
  const allowed = new Set(config.allowed_methods)
  const Method = Schema.Literal(...config.allowed_methods)

  const Parameters = Schema.Struct({
    url: Tool.param(Schema.String.pipe(Schema.maxLength(maxUrlLength)), "Absolute http:// or https:// URL"),
    method: Tool.optionalParam(Method, "HTTP method (default GET)"),
    headers: Tool.optionalParam(
      Schema.Record({ key: Schema.String, value: Schema.String }),
      "Extra request headers, e.g. {\"Accept\": \"application/json\"}"
    ),
    body: Tool.optionalParam(
      Schema.Union(Schema.String, Schema.Record({ key: Schema.String, value: Schema.Unknown })),
      "Request body: a string, or a JSON object (sent as application/json)"
    )
  })

  return Tool.make({
    name: "http_request",
    description:
      `Make an HTTP request to a public web address and read the answer (HTML is converted to text, JSON is returned parsed). ` +
      `Bodies are cut after ${config.max_bytes} bytes. ` +
      (config.allow_private_networks ? "" : "Local and private network addresses are refused."),
    parameters: Parameters,
    // The fetch, then the HTML conversion, each with its own limit that reports more clearly.
    timeout: Duration.sum(Duration.seconds(config.timeout_seconds + config.html_timeout_seconds), timeoutMargin),
    run: (args) =>
      Effect.gen(function*() {
        const method = args.method ?? "GET"
        if (!allowed.has(method)) return yield* Tool.fail(`the method ${method} is not allowed`, "method")
        const headers = { ...args.headers }
        const problem = SafeFetch.checkRequestHeaders(headers)
        if (problem !== undefined) return yield* Tool.fail(problem, "headers")
        let body: string | undefined
        if (args.body !== undefined) {
          if (method === "GET" || method === "HEAD") {
            return yield* Tool.fail(`a ${method} request cannot have a body`, "body")
          }
          body = typeof args.body === "string" ? args.body : JSON.stringify(args.body)
          if (
            !Object.keys(headers).some((name) => name.toLowerCase() === "content-type")
          ) {
            headers["content-type"] = typeof args.body === "string" ? "text/plain; charset=utf-8" : "application/json"
          }
        }
        const response = yield* client.fetch({
          method,
          url: args.url,
          headers,
          ...(body === undefined ? {} : { body })
        }).pipe(
          Effect.mapError((error) =>
            new Tool.ToolError({
              message: error.message,
              ...(error.reason === "invalid_url" || error.reason === "blocked" ? { field: "url" } : {})
            })
          )
        )
        return yield* describeResponse(response, config.max_text_chars, htmlLimits(config)).pipe(
          Effect.mapError((error) => new Tool.ToolError({ message: `${args.url}: ${error.message}` }))
        )
      }).pipe(Effect.annotateLogs({ url: args.url }))
  })
}

export const group: ToolGroup<ToolsSettings> = Effect.map(
  ToolsSettings,
  ({ tools }) => tools.http_client.enabled ? [make(tools.http_client)] : []
)

// ---------------------------------------------------------------------------------------------

type BodyType = "empty" | "json" | "html" | "text" | "binary"

const textualTypes =
  /^(text\/|application\/(json|[\w.+-]+\+json|xml|[\w.+-]+\+xml|javascript|ecmascript|x-www-form-urlencoded|x-ndjson|yaml|x-yaml|csv|sql|graphql)\b)/

const classify = (mime: string, bytes: Uint8Array): BodyType => {
  if (bytes.length === 0) return "empty"
  if (mime === "application/json" || mime.endsWith("+json")) return "json"
  if (mime === "text/html" || mime === "application/xhtml+xml") return "html"
  if (textualTypes.test(mime)) return "text"
  if (mime === "" || mime === "application/octet-stream") {
    // Unlabelled: a NUL byte in the first kilobyte means binary.
    return bytes.subarray(0, 1024).includes(0) ? "binary" : "text"
  }
  return "binary"
}

const decodeText = (bytes: Uint8Array, charset: string | undefined): string => {
  try {
    return new TextDecoder(charset ?? "utf-8").decode(bytes)
  } catch {
    return new TextDecoder("utf-8").decode(bytes)
  }
}

/** The limits of one HTML-to-text conversion under `[tools.http_client]`. */
export const htmlLimits = (config: HttpClientConfig): HtmlToText.HtmlToTextLimits => ({
  timeout: Duration.seconds(config.html_timeout_seconds),
  maxMemoryMb: config.html_max_memory_mb
})

export const describeResponse = (
  response: SafeFetch.SafeResponse,
  maxTextChars: number,
  limits: HtmlToText.HtmlToTextLimits
): Effect.Effect<Record<string, unknown>, HtmlToText.HtmlToTextError> =>
  Effect.gen(function*() {
    const contentType = response.headers["content-type"] ?? ""
    const mime = contentType.split(";")[0]!.trim().toLowerCase()
    const charset = /charset="?([^";\s]+)"?/i.exec(contentType)?.[1]
    let bodyType = classify(mime, response.body)
    let body: unknown = null
    let truncated = response.truncated
    let note: string | undefined
    const cut = (text: string) => {
      if (text.length <= maxTextChars) return text
      truncated = true
      return text.slice(0, maxTextChars)
    }
    switch (bodyType) {
      case "json": {
        const text = decodeText(response.body, charset)
        try {
          if (response.truncated || text.length > maxTextChars) throw new Error("too long")
          body = JSON.parse(text)
        } catch {
          bodyType = "text"
          body = cut(text)
          note = response.truncated || text.length > maxTextChars
            ? "JSON too long to parse whole; the beginning is given as text"
            : "the body is not valid JSON; given as text"
        }
        break
      }
      case "html":
        body = cut((yield* HtmlToText.convert(decodeText(response.body, charset), limits)).trim())
        break
      case "text":
        body = cut(decodeText(response.body, charset))
        break
      case "binary":
        note = `binary content (${mime || "unknown type"}, ${response.body.length} bytes${
          response.truncated ? " read" : ""
        }) not shown`
        break
      case "empty":
        break
    }
    const headers = Object.fromEntries(reportedHeaders.flatMap((name) => {
      const value = response.headers[name]
      return value === undefined ? [] : [[name, value]]
    }))
    return {
      url: response.url,
      status: response.status,
      status_text: response.statusText,
      ...(response.redirects.length > 0 ? { redirects: response.redirects } : {}),
      headers,
      body_type: bodyType,
      body,
      bytes: response.body.length,
      truncated,
      ...(note === undefined ? {} : { note })
    }
  })
