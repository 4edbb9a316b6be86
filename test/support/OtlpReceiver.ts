/**
 * A loopback OTLP/HTTP trace receiver: accepts `POST /v1/traces` in JSON, as a collector would,
 * and keeps every span with its resource's attributes and the request's headers.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"

export interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly attributes: Record<string, unknown>
  readonly service: unknown
}

export interface OtlpReceiver {
  /** The traces URL to configure as `[telemetry] endpoint`. */
  readonly url: string
  readonly spans: Array<ReceivedSpan>
  /** Every request's headers, in order. */
  readonly requests: Array<http.IncomingHttpHeaders>
  /** Resolves with the first span received that matches (exports come every few seconds). */
  readonly waitForSpan: (match: (span: ReceivedSpan) => boolean, timeoutMs?: number) => Promise<ReceivedSpan>
  /** Answer exports with this status (200 by default). */
  status: number
  readonly close: () => Promise<void>
}

interface KeyValue {
  readonly key: string
  readonly value: Record<string, unknown>
}

const flatten = (attributes: ReadonlyArray<KeyValue> | undefined): Record<string, unknown> =>
  Object.fromEntries((attributes ?? []).map(({ key, value }) => [key, Object.values(value)[0]]))

interface TracesBody {
  readonly resourceSpans?: ReadonlyArray<{
    readonly resource?: { readonly attributes?: ReadonlyArray<KeyValue> }
    readonly scopeSpans?: ReadonlyArray<{
      readonly spans?: ReadonlyArray<{
        readonly traceId: string
        readonly spanId: string
        readonly parentSpanId?: string
        readonly name: string
        readonly attributes?: ReadonlyArray<KeyValue>
      }>
    }>
  }>
}

export const startOtlpReceiver = async (): Promise<OtlpReceiver> => {
  const spans: Array<ReceivedSpan> = []
  const requests: Array<http.IncomingHttpHeaders> = []
  const server = http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/traces") {
        res.writeHead(404).end()
        return
      }
      requests.push(req.headers)
      if (receiver.status === 200) {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as TracesBody
        for (const resourceSpan of body.resourceSpans ?? []) {
          const service = flatten(resourceSpan.resource?.attributes)["service.name"]
          for (const scope of resourceSpan.scopeSpans ?? []) {
            for (const span of scope.spans ?? []) {
              spans.push({
                traceId: span.traceId,
                spanId: span.spanId,
                ...(span.parentSpanId === undefined ? {} : { parentSpanId: span.parentSpanId }),
                name: span.name,
                attributes: flatten(span.attributes),
                service
              })
            }
          }
        }
      }
      res.writeHead(receiver.status, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  const receiver: OtlpReceiver = {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    requests,
    status: 200,
    waitForSpan: async (match, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = spans.find(match)
        if (found !== undefined) return found
        if (Date.now() > deadline) {
          throw new Error(`no matching span within ${timeoutMs} ms; got: ${spans.map((s) => s.name).join(", ")}`)
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
  return receiver
}
