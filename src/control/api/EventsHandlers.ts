/** `GET /api/events`: the bus as Server-Sent Events, resumable with `Last-Event-ID`. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Stream } from "effect"
import { Api } from "./Api.ts"
import { type ApiEvent, EventStream, type StreamItem } from "./EventStream.ts"

const encoder = new TextEncoder()
const frame = (event: ApiEvent) =>
  encoder.encode(`id: ${event.id}\nevent: ${event.kind}\ndata: ${JSON.stringify(event.data)}\n\n`)
const connected = encoder.encode(": connected\n\n")
const keepAliveFrame = encoder.encode(": keep-alive\n\n")

export const EventsHandlers = HttpApiBuilder.group(Api, "events", (handlers) =>
  Effect.gen(function*() {
    const events = yield* EventStream
    // Each event is encoded once, however many clients follow the stream.
    const frames = new WeakMap<ApiEvent, Uint8Array>()
    const framed = (item: StreamItem) => {
      if (item === "keep-alive") return keepAliveFrame
      const known = frames.get(item)
      if (known !== undefined) return known
      const made = frame(item)
      frames.set(item, made)
      return made
    }
    return handlers.handle("events", ({ headers }) => {
      const last = headers["last-event-id"]
      const lastEventId = last !== undefined && /^\d+$/.test(last) ? Number(last) : undefined
      const live = Stream.map(Stream.unwrapScoped(events.follow(lastEventId)), framed)
      const body = Stream.concat(Stream.make(connected), live)
      return Effect.succeed(
        HttpServerResponse.stream(body, {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
        })
      )
    })
  }))
