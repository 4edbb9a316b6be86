/**
 * Who may use the control plane. With `[http] api_token` set, every request must carry
 * `Authorization: Bearer <token>`; the comparison is of SHA-256 digests with `timingSafeEqual`,
 * so neither the token's content nor its length leaks through timing. Each failure from one
 * address makes that address's next 401 a little slower, so guessing is slow while a mistyped
 * token costs a person almost nothing; the table of addresses is bounded.
 * Without a token the server is on loopback (checked at start, see ControlServer.ts).
 *
 * A browser (the dashboard) trades the token once for a session cookie (`POST /api/session`):
 * `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page sends it) and expiring.
 * Its value is the expiry time and an HMAC of it keyed by the token, so it survives a restart,
 * needs no table, and changing the token ends every session.
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Duration, Effect, Option, Redacted } from "effect"
import { createHash, createHmac, timingSafeEqual } from "node:crypto"
import { HttpSettings } from "../../config/Config.ts"
import { Unauthorized } from "./Api.ts"

/** Delay added to a 401 per recent failure of the same address, and its cap. */
const failureStep = Duration.millis(200)
const failureCap = Duration.seconds(3)
/** A failure older than this no longer counts. */
const failureMemory = Duration.minutes(10)
/** Addresses remembered at most (the oldest is forgotten first). */
const maxAddresses = 1024

/** The session cookie's name, and how long a session lasts. */
export const sessionCookie = "minibot_session"
const sessionLifetime = Duration.hours(12)

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

/**
 * Sets (or, with an expiry in the past, clears) the session cookie on the response being built.
 * `Secure` when the request reached a TLS proxy in front of us.
 */
const setSessionCookie = (request: HttpServerRequest.HttpServerRequest, value: string, expires: Date) =>
  HttpApp.appendPreResponseHandler((_request, response) =>
    HttpServerResponse.setCookie(response, sessionCookie, value, {
      httpOnly: true,
      sameSite: "strict",
      path: "/",
      expires,
      secure: request.headers["x-forwarded-proto"] === "https"
    }).pipe(Effect.orDie)
  )

export class ApiAuth extends Effect.Service<ApiAuth>()("minibot/ApiAuth", {
  effect: Effect.gen(function*() {
    const http = yield* HttpSettings
    const expected = http.api_token === undefined ? undefined : digest(Redacted.value(http.api_token))
    const sessionKey = http.api_token === undefined
      ? undefined
      : digest(`minibot session key\0${Redacted.value(http.api_token)}`)
    const sign = (key: Buffer, expiresAt: number) =>
      createHmac("sha256", key).update(`session:${expiresAt}`).digest("base64url")

    /** A session's cookie value: its expiry (epoch ms) and the signature of it. */
    const sessionValue = (key: Buffer, expiresAt: number) => `${expiresAt}.${sign(key, expiresAt)}`

    const validSession = (value: string | undefined, now: number) => {
      if (sessionKey === undefined || value === undefined) return false
      const match = /^(\d{1,15})\.([\w-]{43})$/.exec(value)
      if (match === null || Number(match[1]) <= now) return false
      return timingSafeEqual(Buffer.from(sign(sessionKey, Number(match[1]))), Buffer.from(match[2]!))
    }
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

    const tokenMatches = (given: string | undefined) =>
      expected === undefined || (given !== undefined && timingSafeEqual(digest(given), expected))

    const authorized = (request: HttpServerRequest.HttpServerRequest) => {
      if (expected === undefined) return true
      const given = bearerOf(request.headers["authorization"])
      return given !== undefined
        ? tokenMatches(given)
        : validSession(request.cookies[sessionCookie], Date.now())
    }

    const rejected = Effect.fn("ApiAuth.rejected")(function*(request: HttpServerRequest.HttpServerRequest) {
      yield* slowDown(request)
      return yield* HttpServerResponse.json(
        unauthorizedBody("a valid `Authorization: Bearer <api_token>` header is required"),
        { status: 401, headers: { "www-authenticate": "Bearer" } }
      ).pipe(Effect.orDie)
    })

    const slowDown = (request: HttpServerRequest.HttpServerRequest) => {
      const address = addressOf(request)
      const count = recordFailure(address, Date.now())
      return Effect.logWarning("control plane request without a valid token: rejected").pipe(
        Effect.annotateLogs({ remote_address: address, path: request.url, failures: count }),
        Effect.zipRight(Effect.sleep(Duration.min(Duration.times(failureStep, count), failureCap)))
      )
    }

    /**
     * Serves `app` to requests with the token or a valid session cookie (to every request when
     * no token is configured); `open` requests are served as they are (the session exchange).
     */
    const guard = <E, R>(
      app: HttpApp.Default<E, R>,
      open: (request: HttpServerRequest.HttpServerRequest) => boolean = () => false
    ): HttpApp.Default<E, R> =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        if (open(request)) return app
        if (!authorized(request)) return rejected(request)
        failures.delete(addressOf(request))
        return app
      })

    /**
     * `POST /api/session`: the token given in the body, checked like the header (and slowed down
     * the same way when wrong), becomes a session cookie on the response. Without a configured
     * token there is nothing to trade: the answer says so and sets no cookie.
     */
    const openSession = Effect.fn("ApiAuth.openSession")(function*(given: string) {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (sessionKey === undefined) return { expiresAt: null }
      if (!tokenMatches(given)) {
        yield* slowDown(request)
        return yield* new Unauthorized({ message: "token: not the configured [http] api_token" })
      }
      failures.delete(addressOf(request))
      const expiresAt = Date.now() + Duration.toMillis(sessionLifetime)
      yield* setSessionCookie(request, sessionValue(sessionKey, expiresAt), new Date(expiresAt))
      yield* Effect.logInfo("dashboard session opened").pipe(
        Effect.annotateLogs({ remote_address: addressOf(request) })
      )
      return { expiresAt }
    })

    /** `DELETE /api/session`: the browser forgets its cookie. */
    const closeSession = Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request) => setSessionCookie(request, "", new Date(0))
    )

    return { guard, openSession, closeSession, required: expected !== undefined } as const
  })
}) {}
