/** The API tests' daemon (Telegram on the fake Bot API, the fake LLM, `[http]` on loopback) and client. */
import { Effect, Schedule } from "effect"
import { startDaemon } from "../channels/telegram/harness.ts"
import { freePort } from "../support/Daemon.ts"
import { FakeLlm } from "../support/FakeLlm.ts"
import { type FakeTelegramServer, makeFakeTelegram } from "../support/FakeTelegram.ts"

export const token = "api-token-for-tests-0123456789"
export const chat = "telegram:42"

export interface Reply {
  readonly status: number
  readonly body: any
}

export const call = (port: number, method: string, path: string, options: { token?: string; body?: unknown } = {}) =>
  Effect.promise(async (): Promise<Reply> => {
    const headers: Record<string, string> = {}
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
    if (options.body !== undefined) headers["content-type"] = "application/json"
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) })
    })
    const text = await res.text()
    return { status: res.status, body: res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text }
  })

/** Repeats the request until its answer satisfies `check` (the ledger is settled just after the send). */
export const eventually = (request: Effect.Effect<Reply>, check: (reply: Reply) => boolean, timeoutMs = 5_000) =>
  request.pipe(
    Effect.filterOrFail(check, () => new Error("not yet")),
    Effect.retry(Schedule.spaced("20 millis")),
    Effect.timeoutFail({ duration: timeoutMs, onTimeout: () => new Error("condition not met in time") })
  )

export const started = (
  options: {
    http?: Record<string, unknown>
    telegram?: Record<string, unknown>
    config?: Record<string, unknown>
    /** Runs on the fake Bot API before the daemon starts (faults for its start-up calls). */
    prepare?: (fake: FakeTelegramServer) => void
  } = {}
) =>
  Effect.gen(function*() {
    const fake = yield* makeFakeTelegram()
    options.prepare?.(fake)
    const llm = yield* FakeLlm.make()
    const port = yield* Effect.promise(freePort)
    const h = yield* startDaemon(fake, llm, {
      config: { ...options.config, http: { enabled: true, port, api_token: token, ...options.http } },
      ...(options.telegram === undefined ? {} : { telegram: options.telegram }),
      llm: { api_key: "sk-llm-secret-key-123" }
    })
    return { fake, llm, port, h }
  })
