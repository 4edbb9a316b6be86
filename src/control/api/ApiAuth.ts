/**
 * Who may use the control plane. With `[http] api_token` set, every request must carry
 * `Authorization: Bearer <token>`; the comparison is of SHA-256 digests with `timingSafeEqual`,
 * so neither the token's content nor its length leaks through timing. Each failure from one
 * address makes that address's next 401 a little slower, so guessing is slow while a mistyped
 * token costs a person almost nothing; the table of addresses is bounded.
 * Without a token the server is on loopback (checked at start, see ControlServer.ts).
 */
import type { HttpApp } from "@effect/platform"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Duration, Effect, Option, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { HttpSettings } from "../../config/Config.ts"

/** Delay added to a 401 per recent failure of the same address, and its cap. */
const failureStep = Duration.millis(200)
const failureCap = Duration.seconds(3)
/** A failure older than this no longer counts. */
const failureMemory = Duration.minutes(10)
/** Addresses remembered at most (the oldest is forgotten first). */
const maxAddresses = 1024

const digest = (value: string) => createHash("sha256").update(value).digest()

const bearerOf = (header: string | undefined): string | undefined => {
  const match = header === undefined ? null : /^Bearer\s+(.+)$/i.exec(header.trim())
  return match === null ? undefined : match[1]
}

const addressOf = (request: HttpServerRequest.HttpServerRequest) =>
  Option.getOrElse(request.remoteAddress, () => "unknown")

export const unauthorizedBody = (message: string) => ({ _tag: "Unauthorized", message })

/** `127.0.0.0/8`, `::1` and `localhost`: the addresses only this machine reaches. */
export const isLoopback = (host: string) =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host)

export class ApiAuth extends Effect.Service<ApiAuth>()("minibot/ApiAuth", {
  effect: Effect.gen(function*() {
    const http = yield* HttpSettings
    const expected = http.api_token === undefined ? undefined : digest(Redacted.value(http.api_token))
    const failures = new Map<string, { count: number; last: number }>()

    const recordFailure = (address: string, now: number) => {
      const previous = failures.get(address)
      const count = previous !== undefined && now - previous.last < Duration.toMillis(failureMemory)
        ? previous.count + 1
        : 1
      // Re-inserted so the Map's order is least recently failed first.
      failures.delete(address)
      if (failures.size >= maxAddresses) failures.delete(failures.keys().next().value!)
      failures.set(address, { count, last: now })
      return count
    }

    const authorized = (request: HttpServerRequest.HttpServerRequest) => {
      if (expected === undefined) return true
      const given = bearerOf(request.headers["authorization"])
      return given !== undefined && timingSafeEqual(digest(given), expected)
    }

    const rejected = Effect.fn("ApiAuth.rejected")(function*(request: HttpServerRequest.HttpServerRequest) {
      const address = addressOf(request)
      const count = recordFailure(address, Date.now())
      yield* Effect.logWarning("control plane request without a valid token: rejected").pipe(
        Effect.annotateLogs({ remote_address: address, path: request.url, failures: count })
      )
      yield* Effect.sleep(Duration.min(Duration.times(failureStep, count), failureCap))
      return yield* HttpServerResponse.json(
        unauthorizedBody("a valid `Authorization: Bearer <api_token>` header is required"),
        { status: 401, headers: { "www-authenticate": "Bearer" } }
      ).pipe(Effect.orDie)
    })

    /** Serves `app` to requests with the token (to every request when none is configured). */
    const guard = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        if (!authorized(request)) return rejected(request)
        failures.delete(addressOf(request))
        return app
      })

    return { guard, required: expected !== undefined } as const
  })
}) {}
