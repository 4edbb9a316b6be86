/**
 * `GET /api/events`: the bus as Server-Sent Events, resumable with `Last-Event-ID`.
 *
 * The body is a Node stream the server pipes to the socket, and `EventStream` pushes each batch
 * into it directly: a stream of Effect per client costs every client a fiber wake-up and a pass
 * through the stream's machinery per batch, which on a turn of 4 ms with 10 clients added a
 * quarter to the turn. What the socket has not taken waits in the body's buffer; past
 * `clientBacklog` the client is too far behind and is disconnected.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import { Readable } from "node:stream"
import { Api } from "./Api.ts"
import { EventStream, type StreamItem } from "./EventStream.ts"

/** Bytes a client may leave unread (past what its socket holds) before it is dropped. */
export const clientBacklog = 64 * 1024

const encoder = new TextEncoder()
const frame = (item: StreamItem) =>
  item === "keep-alive"
    ? ": keep-alive\n\n"
    : `id: ${item.id}\nevent: ${item.kind}\ndata: ${JSON.stringify(item.data)}\n\n`
const connected = encoder.encode(": connected\n\n")
// A batch is the same array for every client: it is encoded once, however many follow.
const frames = new WeakMap<ReadonlyArray<StreamItem>, Uint8Array>()
const framed = (items: ReadonlyArray<StreamItem>) => {
  const known = frames.get(items)
  if (known !== undefined) return known
  const made = encoder.encode(items.map(frame).join(""))
  frames.set(items, made)
  return made
}

/** One client's body: the events after `lastEventId`, then every new one, as SSE frames. */
export const sseBody = (events: EventStream, lastEventId: number | undefined) =>
  Effect.gen(function*() {
    const body = new Readable({ read() {}, highWaterMark: clientBacklog })
    body.push(connected)
    const { unfollow } = yield* events.follow(lastEventId, {
      offer: (items) => body.push(framed(items)) || (body.destroy(), false)
    })
    // The server destroys the body when the client goes away or the server stops.
    body.once("close", unfollow)
    return body
  })

export const EventsHandlers = HttpApiBuilder.group(Api, "events", (handlers) =>
  Effect.gen(function*() {
    const events = yield* EventStream
    return handlers.handle("events", ({ headers }) => {
      const last = headers["last-event-id"]
      const lastEventId = last !== undefined && /^\d+$/.test(last) ? Number(last) : undefined
      return Effect.map(sseBody(events, lastEventId), (body) =>
        HttpServerResponse.raw(body, {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
        }))
    })
  }))
