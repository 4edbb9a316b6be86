/** `GET /api/events`: the bus as Server-Sent Events, resumable with `Last-Event-ID`. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Schedule, Stream } from "effect"
import { Api } from "./Api.ts"
import { type ApiEvent, EventStream } from "./EventStream.ts"

/** A comment line now and then keeps proxies from closing an idle stream. */
const keepAlive = Schedule.spaced("15 seconds")

const encoder = new TextEncoder()
const frame = (event: ApiEvent) => `id: ${event.id}\nevent: ${event.kind}\ndata: ${JSON.stringify(event.data)}\n\n`

export const EventsHandlers = HttpApiBuilder.group(Api, "events", (handlers) =>
  Effect.gen(function*() {
    const events = yield* EventStream
    return handlers.handle("events", ({ headers }) => {
      const last = headers["last-event-id"]
      const lastEventId = last !== undefined && /^\d+$/.test(last) ? Number(last) : undefined
      const live = Stream.unwrapScoped(events.follow(lastEventId)).pipe(
        Stream.map(frame),
        Stream.merge(Stream.schedule(Stream.repeatValue(": keep-alive\n\n"), keepAlive), { haltStrategy: "left" })
      )
      const body = Stream.concat(Stream.make(": connected\n\n"), live).pipe(Stream.map((text) => encoder.encode(text)))
      return Effect.succeed(
        HttpServerResponse.stream(body, {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
        })
      )
    })
  }))
