/**
 * The `fetch` the openai SDK is given: Node's own HTTP client under the WHATWG `fetch` signature.
 *
 * Why: Node's global `fetch` is undici, whose HTTP parser is a WebAssembly module; its first
 * request adds about 15 MB of resident memory that no collection gives back (compiled code and
 * the module's memory), for a process whose Telegram client already speaks HTTP through
 * `node:http`. Here a request is `http.request`/`https.request` on one keep-alive agent each,
 * the response body a web stream over the Node one (`Request` and `Response` are plain
 * JavaScript objects: building them does not start the parser). The abort signal goes to the
 * request, so the SDK's timeouts and the turn's interruption close the socket. Redirects are not
 * followed: an LLM API answers where it is asked.
 */
import * as http from "node:http"
import * as https from "node:https"
import { Readable } from "node:stream"
import type { ReadableStream as NodeReadableStream } from "node:stream/web"

/** Status codes whose response has no body (`Response` refuses one). */
const bodiless = new Set([101, 204, 205, 304])

/** A `fetch` over `node:http` and `node:https`, with keep-alive agents of its own. */
export const make = (): typeof fetch => {
  const httpAgent = new http.Agent({ keepAlive: true })
  const httpsAgent = new https.Agent({ keepAlive: true })
  return (input, init) => {
    // `Request` normalises every form of URL, headers and body (a string, a FormData, a stream).
    const request = new Request(input, init)
    const url = new URL(request.url)
    const secure = url.protocol === "https:"
    const headers: Record<string, string> = {}
    request.headers.forEach((value, name) => void (headers[name] = value))
    return new Promise<Response>((resolve, reject) => {
      const outgoing = (secure ? https : http).request(url, {
        method: request.method,
        headers,
        agent: secure ? httpsAgent : httpAgent,
        signal: request.signal
      }, (incoming) => {
        const status = incoming.statusCode ?? 0
        const received = new Headers()
        for (const [name, value] of Object.entries(incoming.headers)) {
          for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
            received.append(name, one)
          }
        }
        const empty = bodiless.has(status) || request.method === "HEAD"
        if (empty) incoming.resume()
        const body = empty ? null : Readable.toWeb(incoming) as ReadableStream<Uint8Array>
        resolve(new Response(body, { status, statusText: incoming.statusMessage ?? "", headers: received }))
      })
      outgoing.on("error", reject)
      if (request.body === null) outgoing.end()
      else Readable.fromWeb(request.body as NodeReadableStream<Uint8Array>).on("error", reject).pipe(outgoing)
    })
  }
}
