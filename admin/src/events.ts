/**
 * The live event stream (`GET /api/events`, Server-Sent Events) shared by every page. The browser's
 * EventSource sends the session cookie (it cannot send headers) and, on its own reconnects, the
 * `Last-Event-ID` the server resumes from. When the server ends the stream for good (a 401, a
 * restart) it is opened again a little later, and pages reload what they show.
 */
import { useEffect, useState } from "preact/hooks"

/** One event as the API sends it: `kind` is also the SSE event name. */
export interface LiveEvent {
  readonly id: number
  readonly kind: string
  readonly at: number
  readonly conversationId?: string
  readonly [field: string]: unknown
}

/** The kinds the API sends or is to send (issue 10); a kind added later is added here. */
export const knownKinds = [
  "inbound.received",
  "turn.started",
  "turn.finished",
  "tool.called",
  "reply.sent",
  "turn.failed",
  "delivery.failed",
  "duplicate.ignored",
  "job.fired",
  "channel.state"
] as const

const reopenAfterMs = 3000

type Listener = (event: LiveEvent) => void
const listeners = new Set<Listener>()
const connectionListeners = new Set<(connected: boolean) => void>()
let source: EventSource | undefined
let connected = false

const setConnected = (value: boolean) => {
  if (connected === value) return
  connected = value
  for (const listener of connectionListeners) listener(value)
}

const open = () => {
  if (source !== undefined) return
  const es = new EventSource("/api/events")
  source = es
  es.onopen = () => setConnected(true)
  es.onerror = () => {
    setConnected(false)
    if (es.readyState === EventSource.CLOSED) {
      source = undefined
      setTimeout(() => {
        if (listeners.size > 0 || connectionListeners.size > 0) open()
      }, reopenAfterMs)
    }
  }
  const deliver = (message: MessageEvent<string>) => {
    let event: LiveEvent
    try {
      event = JSON.parse(message.data) as LiveEvent
    } catch {
      return
    }
    for (const listener of listeners) listener(event)
  }
  // A named SSE event reaches only the listeners of its name.
  for (const kind of knownKinds) es.addEventListener(kind, deliver)
  es.onmessage = deliver
}

/** Stops the stream (on logout). */
export const closeEvents = () => {
  source?.close()
  source = undefined
  setConnected(false)
}

/** Calls `listener` for each live event while the component is mounted. */
export const useEvents = (listener: Listener, deps: ReadonlyArray<unknown> = []) => {
  useEffect(() => {
    listeners.add(listener)
    open()
    return () => void listeners.delete(listener)
  }, deps)
}

/** Whether the live stream is connected right now. */
export const useConnected = () => {
  const [value, setValue] = useState(connected)
  useEffect(() => {
    connectionListeners.add(setValue)
    open()
    setValue(connected)
    return () => void connectionListeners.delete(setValue)
  }, [])
  return value
}
