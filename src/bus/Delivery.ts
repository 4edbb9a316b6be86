/**
 * How an event reaches a consumer, whichever layer carries it: a failing handler is retried a
 * few times and then skipped with a log line (one bad event must not stop the consumer), and an
 * event seen twice (a redelivery after a lost ack) is recognised by its id.
 */
import { Cause, Duration, Effect, Schedule } from "effect"
import type { BusEvent } from "./BusEvent.ts"

/** A failed handler of a durable consumer is retried this way before the event is skipped. */
export const handlerRetry = Schedule.exponential(Duration.millis(200)).pipe(Schedule.intersect(Schedule.recurs(3)))

/** `handle`, retried, with its final failure logged: what every layer's `consume` runs per event. */
export const handleOnce = <E, R>(
  name: string,
  id: string,
  event: BusEvent,
  handle: (event: BusEvent, id: string) => Effect.Effect<void, E, R>
): Effect.Effect<void, never, R> =>
  handle(event, id).pipe(
    Effect.retry(handlerRetry),
    Effect.catchAllCause((cause) =>
      // A consumer being stopped is not a failed event: it stays unacknowledged, for redelivery.
      Cause.isInterruptedOnly(cause)
        ? Effect.interrupt
        : Effect.logError("bus consumer failed on an event: skipped", cause).pipe(
          Effect.annotateLogs({ component: "bus", consumer: name, event: event._tag, event_id: id })
        )
    )
  )

/** Remembers the last `capacity` ids: `firstTime(id)` is false for an id already seen. */
export const recentIds = (capacity: number) => {
  const seen = new Set<string>()
  const order: Array<string> = []
  return {
    firstTime: (id: string): boolean => {
      if (seen.has(id)) return false
      seen.add(id)
      order.push(id)
      if (order.length > capacity) seen.delete(order.shift()!)
      return true
    }
  }
}
