/** `GET /api/logs` against the real server: recent lines, filtered, with every secret masked. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { redactedMark } from "../../src/observability/Logging.ts"
import { waitForText } from "../channels/telegram/harness.ts"
import { call, chat, eventually, started, token } from "./ApiKit.ts"

const llmKey = "sk-llm-secret-key-123"

describe("HTTP API: logs", () => {
  it.scopedLive("recent lines by level, component and time; a secret that reached a log line is masked", () =>
    Effect.gen(function*() {
      const { fake, port } = yield* started()
      const before = Date.now() - 1
      yield* call(port, "POST", `/api/conversations/${chat}/messages`, { token, body: { text: "log me" } })
      yield* waitForText(fake, "echo: log me")
      // A request carrying secrets in its path and a wrong token is logged with that path.
      const rejected = yield* call(port, "GET", `/api/${llmKey}/${token}/${fake.token}`, { token: "wrong" })
      expect(rejected.status).toBe(401)

      const warnings = yield* eventually(
        call(port, "GET", "/api/logs?level=warning", { token }),
        (reply) => reply.body.items.some((l: any) => l.line.includes("without a valid token"))
      )
      expect(warnings.body.items.every((l: any) => ["warning", "error", "fatal"].includes(l.level))).toBe(true)
      const rejection = warnings.body.items.find((l: any) => l.line.includes("without a valid token"))
      expect(rejection.line).toContain(redactedMark)

      const all = yield* call(port, "GET", "/api/logs?limit=500", { token })
      expect(all.body.items.length).toBeGreaterThan(5)
      const text = JSON.stringify(all.body)
      for (const secret of [llmKey, token, fake.token]) expect(text).not.toContain(secret)

      const api = yield* call(port, "GET", `/api/logs?component=api&since=${before}`, { token })
      expect(api.body.items.map((l: any) => l.line)).toEqual([
        expect.stringContaining("operator message stored for its conversation")
      ])
      const later = yield* call(port, "GET", `/api/logs?since=${new Date(Date.now() + 60_000).toISOString()}`, {
        token
      })
      expect(later.body.items).toEqual([])
      const bad = yield* call(port, "GET", "/api/logs?since=yesterday", { token })
      expect(bad.status).toBe(400)
      expect(bad.body).toMatchObject({ field: "since" })
    }))
})
