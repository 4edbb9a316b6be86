import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Option, TestClock } from "effect"
import { HttpSettings, makeConfig } from "../../src/config/Config.ts"
import { ApiAuth, isLoopback } from "../../src/control/api/ApiAuth.ts"

const token = "the-right-token"
const settings = Layer.succeed(HttpSettings, makeConfig({ http: { api_token: token } }).http)

const requestWith = (authorization?: string) =>
  HttpServerRequest.fromWeb(
    new Request("http://127.0.0.1/api/status", authorization === undefined ? {} : { headers: { authorization } })
  )

describe("ApiAuth", () => {
  it.effect("each failure from an address makes its next 401 slower; the right token is served at once", () =>
    Effect.gen(function*() {
      const auth = yield* ApiAuth
      const app = auth.guard(HttpServerResponse.text("ok"))
      const send = (authorization?: string) =>
        Effect.provideService(app, HttpServerRequest.HttpServerRequest, requestWith(authorization))

      /** Forks a rejected request and checks it is answered after exactly `ms`. */
      const rejectedAfter = (ms: number, authorization?: string) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(send(authorization))
          while (Chunk.isEmpty(yield* TestClock.sleeps())) yield* Effect.yieldNow()
          yield* TestClock.adjust(ms - 1)
          expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
          yield* TestClock.adjust(1)
          const response = yield* Fiber.join(fiber)
          expect(response.status).toBe(401)
        })

      yield* rejectedAfter(200)
      yield* rejectedAfter(400, "Bearer wrong")
      yield* rejectedAfter(600, `Basic ${token}`)
      expect((yield* send(`Bearer ${token}`)).status).toBe(200)
      // A success forgets the address's failures.
      yield* rejectedAfter(200, "Bearer wrong")
    }).pipe(Effect.provide(ApiAuth.Default.pipe(Layer.provide(settings)))))

  it("loopback hosts", () => {
    expect(["127.0.0.1", "127.1.2.3", "localhost", "::1"].every(isLoopback)).toBe(true)
    expect(["0.0.0.0", "192.168.1.2", "::", "example.com"].some(isLoopback)).toBe(false)
  })
})
