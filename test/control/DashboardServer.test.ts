/**
 * The dashboard's server side over real HTTP on loopback (an in-process daemon): the session
 * cookie that `POST /api/session` trades for the token, and the built app served at /admin
 * (`npm run build` first; npm test does it).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll } from "vitest"
import { startDaemon } from "../channels/telegram/harness.ts"
import { freePort } from "../support/Daemon.ts"
import { FakeLlm } from "../support/FakeLlm.ts"
import { makeFakeTelegram } from "../support/FakeTelegram.ts"

const token = "session-token-for-tests-0123456789"
const builtIndex = path.resolve(import.meta.dirname, "../../dist/admin/index.html")

beforeAll(() => {
  if (!fs.existsSync(builtIndex)) throw new Error(`${builtIndex} is missing: run \`npm run build\` first`)
})

const started = (http: Record<string, unknown> = { api_token: token }) =>
  Effect.gen(function*() {
    const fake = yield* makeFakeTelegram()
    const llm = yield* FakeLlm.make()
    const port = yield* Effect.promise(freePort)
    yield* startDaemon(fake, llm, { config: { http: { enabled: true, port, ...http } } })
    return `http://127.0.0.1:${port}`
  })

const request = (url: string, init: RequestInit = {}) => Effect.promise(() => fetch(url, init))

const openSession = (base: string, given: string) =>
  request(`${base}/api/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: given })
  })

const cookieOf = (response: Response) => response.headers.get("set-cookie")!.split(";")[0]!

describe("the dashboard's session and files", () => {
  it.scopedLive("the token buys an HttpOnly, SameSite=Strict, expiring cookie that the API accepts", () =>
    Effect.gen(function*() {
      const base = yield* started()
      const wrong = yield* openSession(base, "not-it")
      expect(wrong.status).toBe(401)
      expect(yield* Effect.promise(() => wrong.json())).toMatchObject({ _tag: "Unauthorized" })
      expect(wrong.headers.get("set-cookie")).toBeNull()

      const missing = yield* request(`${base}/api/session`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}"
      })
      expect(missing.status).toBe(400)
      expect(yield* Effect.promise(() => missing.text())).toContain("token")

      const ok = yield* openSession(base, token)
      expect(ok.status).toBe(200)
      const { expiresAt } = yield* Effect.promise(() => ok.json() as Promise<{ expiresAt: number }>)
      expect(expiresAt).toBeGreaterThan(Date.now() + 11 * 3600_000)
      const setCookie = ok.headers.get("set-cookie")!
      expect(setCookie).toMatch(/^minibot_session=[^;]+; /)
      expect(setCookie).toContain("HttpOnly")
      expect(setCookie).toContain("SameSite=Strict")
      expect(setCookie).toContain("Path=/")
      expect(setCookie).toMatch(/Expires=/)
      expect(setCookie).not.toContain(token)

      const cookie = cookieOf(ok)
      expect((yield* request(`${base}/api/status`, { headers: { cookie } })).status).toBe(200)
      const events = yield* request(`${base}/api/events`, { headers: { cookie } })
      expect(events.status).toBe(200)
      yield* Effect.promise(() => events.body!.cancel())

      // A cookie whose expiry was pushed later no longer matches its signature.
      const [, value] = cookie.split("=")
      const tampered = `minibot_session=${Number(value!.split(".")[0]) + 1000}.${value!.split(".")[1]}`
      expect((yield* request(`${base}/api/status`, { headers: { cookie: tampered } })).status).toBe(401)
      expect((yield* request(`${base}/api/status`, { headers: { cookie: "minibot_session=garbage" } })).status)
        .toBe(401)

      const closed = yield* request(`${base}/api/session`, { method: "DELETE", headers: { cookie } })
      expect(closed.status).toBe(204)
      expect(closed.headers.get("set-cookie")).toMatch(/^minibot_session=; .*Expires=Thu, 01 Jan 1970/)
    }))

  it.scopedLive("/admin serves the app with its content types; other paths fall back to the app; missing files are 404", () =>
    Effect.gen(function*() {
      const base = yield* started()
      for (const at of ["/admin", "/admin/", "/admin/conversations/telegram%3A42"]) {
        const page = yield* request(base + at)
        expect(page.status).toBe(200)
        expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8")
        expect(page.headers.get("content-security-policy")).toContain("default-src 'self'")
        const html = yield* Effect.promise(() => page.text())
        expect(html).toContain(`<div id="app">`)
      }
      const html = fs.readFileSync(builtIndex, "utf8")
      const script = /src="(\/admin\/assets\/[^"]+\.js)"/.exec(html)![1]!
      const style = /href="(\/admin\/assets\/[^"]+\.css)"/.exec(html)![1]!
      const js = yield* request(base + script)
      expect(js.status).toBe(200)
      expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8")
      expect(js.headers.get("cache-control")).toContain("immutable")
      expect((yield* request(base + style)).headers.get("content-type")).toBe("text/css; charset=utf-8")
      // Nothing from another origin: no CDN at run time.
      expect(html).not.toMatch(/(src|href)="https?:/)

      expect((yield* request(`${base}/admin/assets/nothing-here.js`)).status).toBe(404)
      // A path that is not valid percent-encoding is refused, not served as the app.
      expect((yield* request(`${base}/admin/%E0%A4%A`)).status).toBe(404)
    }))

  it.scopedLive("without a token (loopback) the API needs no session, and the exchange says so", () =>
    Effect.gen(function*() {
      const base = yield* started({})
      expect((yield* request(`${base}/api/status`)).status).toBe(200)
      const open = yield* openSession(base, "anything")
      expect(open.status).toBe(200)
      expect(yield* Effect.promise(() => open.json())).toEqual({ expiresAt: null })
      expect(open.headers.get("set-cookie")).toBeNull()
    }))

  it.scopedLive("with api = false neither the API nor the dashboard is served", () =>
    Effect.gen(function*() {
      const base = yield* started({ api: false })
      expect((yield* request(`${base}/admin/`)).status).toBe(404)
      expect((yield* request(`${base}/api/status`)).status).toBe(404)
      expect((yield* request(`${base}/healthz`)).status).toBe(200)
    }))
})
