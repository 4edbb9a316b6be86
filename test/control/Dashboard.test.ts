/**
 * The dashboard at /admin in a real browser (Debian's Chromium through playwright-core) against
 * the built daemon (dist/main.js) with Telegram on the fake Bot API and the LLM on the fake
 * OpenAI server: what an operator sees and does. `MINIBOT_SCREENSHOTS=1` saves the pictures the
 * README shows (docs/screenshots/).
 */
import { describe, expect, it } from "@effect/vitest"
import { afterEach } from "vitest"
import { type Browser, openBrowser, requireChromium, screenshot } from "../support/Browser.ts"
import { freePort, processScope, requireBuilt, telegramDaemonConfig } from "../support/Daemon.ts"
import { type FakeChatRequest, type FakeReply, lastUserContent, startFakeLlm } from "../support/FakeLlm.ts"
import { startFakeTelegram } from "../support/FakeTelegram.ts"
import { tempDir } from "../support/Harness.ts"

const { adopt, launch, onCleanup } = processScope()
requireBuilt("minibot_session", "dashboard session")

const token = "dashboard-token-for-tests-0123456789"
const chat = "telegram:42"

const browsers: Array<Browser> = []
afterEach(async () => {
  for (const browser of browsers.splice(0)) await browser.close()
})

const echo = (request: FakeChatRequest): FakeReply => ({ content: `echo: ${lastUserContent(request)}` })

/** The daemon with Telegram (user 42 allowed) and the API on a free port; a browser signed out. */
const started = async (llmHandler: (request: FakeChatRequest) => FakeReply = echo, telegramKeys = "") => {
  requireChromium()
  const dir = tempDir()
  const telegram = adopt(await startFakeTelegram())
  const llm = adopt(await startFakeLlm())
  llm.script(llmHandler)
  const port = await freePort()
  const config = telegramDaemonConfig(
    dir,
    telegram,
    llm,
    `allowed_user_ids = [42]\n${telegramKeys}\n[http]\nenabled = true\nport = ${port}\napi_token = "${token}"`,
    "request_timeout_seconds = 60"
  )
  const daemon = launch(["run", "--config", config], { cwd: dir })
  await daemon.waitForStderr(/minibot started/)
  const browser = await openBrowser()
  browsers.push(browser)
  onCleanup(async () => {
    expect(daemon.stderr + daemon.stdout).not.toContain(token)
  })
  return { telegram, llm, daemon, browser, page: browser.page, port, url: `http://127.0.0.1:${port}/admin/` }
}

type Started = Awaited<ReturnType<typeof started>>

const signIn = async ({ page, url }: Started) => {
  await page.goto(url)
  await page.getByLabel("API token").fill(token)
  await page.getByRole("button", { name: "Sign in" }).click()
  await page.getByRole("heading", { name: "Overview" }).waitFor()
  // The live stream is connected: events from now on reach the page.
  await page.locator(".live.on").waitFor()
}

const sentTexts = (s: Started) => s.telegram.sent.filter((m) => String(m.chat_id) === "42").map((m) => m.text)

describe("the dashboard in a browser", { timeout: 90_000 }, () => {
  it("a wrong token shows an error; the right one signs in, once, with an HttpOnly cookie", async () => {
    const s = await started()
    const { page, url } = s
    await page.goto(url)
    await screenshot(page, "login")
    await page.getByLabel("API token").fill("not-the-token")
    await page.getByRole("button", { name: "Sign in" }).click()
    expect(await page.getByRole("alert").textContent()).toContain("not the daemon's api_token")
    expect(await page.getByRole("heading", { name: "Overview" }).count()).toBe(0)

    // By keyboard: the field, then Enter.
    await page.getByLabel("API token").fill("")
    await page.getByLabel("API token").pressSequentially(token)
    await page.keyboard.press("Enter")
    await page.getByRole("heading", { name: "Overview" }).waitFor()
    const [cookie] = await s.browser.context.cookies()
    expect(cookie).toMatchObject({ name: "minibot_session", httpOnly: true, sameSite: "Strict", path: "/" })
    expect(cookie!.expires).toBeGreaterThan(Date.now() / 1000)
    expect(cookie!.value).not.toContain(token)

    // The first Tab reaches "Skip to content", then the menu; Enter follows a link.
    await page.keyboard.press("Tab")
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content")
    await page.getByRole("link", { name: "Schedules", exact: true }).focus()
    await page.keyboard.press("Enter")
    await page.getByRole("heading", { name: "Schedules" }).waitFor()

    // The session is kept: a reload, or a deep link, does not ask again.
    await page.goto(url + "deliveries")
    await page.getByRole("heading", { name: "Deliveries" }).waitFor()
    expect(await page.getByLabel("API token").count()).toBe(0)
    // Signing out asks again.
    await page.getByRole("button", { name: "Sign out" }).click()
    await page.getByLabel("API token").waitFor()
    await page.goto(url)
    await page.getByLabel("API token").waitFor()
  })

  it("a Telegram message appears live with its reply, on the overview and in the transcript", async () => {
    const s = await started()
    const { page } = s
    await signIn(s)
    s.telegram.pushText({ chatId: 42, userId: 42, text: "hello there" })
    await page.locator(`tr[data-kind="inbound.received"]`, { hasText: chat }).waitFor()
    await page.locator(`tr[data-kind="reply.sent"]`, { hasText: chat }).waitFor()
    expect(await page.locator(`[data-kind="inbound.received"].value`).textContent()).toBe("1")
    expect(await page.locator(`[data-kind="reply.sent"].value`).textContent()).toBe("1")
    expect(sentTexts(s)).toEqual(["echo: hello there"])
    await screenshot(page, "overview")

    // From the feed to the conversation; a new message shows up there without a reload.
    await page.locator(`tr[data-kind="reply.sent"]`).getByRole("link", { name: chat }).click()
    await page.getByRole("heading", { name: chat }).waitFor()
    const transcript = page.getByRole("region", { name: "Transcript" })
    await transcript.getByText("echo: hello there").waitFor()
    s.telegram.pushText({ chatId: 42, userId: 42, text: "and another thing" })
    await transcript.getByText("echo: and another thing").waitFor()
    expect(await transcript.locator(".message").allTextContents()).toEqual([
      expect.stringContaining("hello there"),
      expect.stringContaining("echo: hello there"),
      expect.stringContaining("and another thing"),
      expect.stringContaining("echo: and another thing")
    ])
    await screenshot(page, "conversation")
  })

  it("Stop on a turn whose model hangs: the chat gets the stopped message", async () => {
    const s = await started((request) =>
      lastUserContent(request) === "a slow question" ? { hang: true } : echo(request)
    )
    const { page, url } = s
    await signIn(s)
    s.telegram.pushText({ chatId: 42, userId: 42, text: "a slow question" })
    await s.llm.waitFor((f) => f.completions().length === 1, 15_000)

    await page.goto(`${url}conversations/${encodeURIComponent(chat)}`)
    await page.getByRole("button", { name: "Stop" }).click()
    await page.getByText("The running turn was stopped.").waitFor()
    await s.telegram.waitFor((f) => f.sent.some((m) => m.text === "Stopped."), 15_000)
    expect(sentTexts(s)).toEqual(["Stopped."])

    // Nothing runs now: a second press says so.
    await page.getByRole("button", { name: "Stop" }).click()
    await page.getByText("No turn was running.").waitFor()
  })

  it("the Conversations page injects a message (answered in the chat) and sends as the bot", async () => {
    const s = await started()
    const { page } = s
    await signIn(s)
    s.telegram.pushText({ chatId: 42, userId: 42, text: "hi" })
    await s.telegram.waitForSent(1)

    await page.getByRole("link", { name: "Conversations", exact: true }).click()
    await page.getByRole("link", { name: chat }).click()
    await page.getByLabel("Message").fill("written on the dashboard")
    await page.getByLabel("Message").press("Control+Enter")
    await page.getByText(/^Stored as message api-/).waitFor()
    await s.telegram.waitFor((f) => f.sent.some((m) => m.text === "echo: written on the dashboard"), 15_000)
    const transcript = page.getByRole("region", { name: "Transcript" })
    await transcript.getByText("echo: written on the dashboard").waitFor()

    await page.getByLabel("Message").fill("A note from the operator.")
    await page.getByRole("button", { name: "Send as bot" }).click()
    await page.getByText("Sent as the bot (1 message).").waitFor()
    expect(sentTexts(s)).toEqual(["echo: hi", "echo: written on the dashboard", "A note from the operator."])
    // Sent as the bot: no model turn.
    expect(s.llm.completions()).toHaveLength(2)
  })

  it("deliveries, schedules (a new prompt, cancel) and the redacted config; readable on a phone", async () => {
    const s = await started((request) => {
      const last = request.messages[request.messages.length - 1]
      if (lastUserContent(request) === "remind me to stretch in an hour" && last?.role === "user") {
        return {
          toolCalls: [{
            name: "schedule_prompt",
            arguments: { prompt: "Remind the user to stretch", delay_seconds: 3600 }
          }]
        }
      }
      return last?.role === "tool" ? { content: "I will remind you in an hour." } : echo(request)
    })
    const { page } = s
    await signIn(s)
    s.telegram.pushText({ chatId: 42, userId: 42, text: "remind me to stretch in an hour" })
    await s.telegram.waitFor((f) => f.sent.some((m) => m.text === "I will remind you in an hour."), 15_000)
    s.telegram.pushText({ chatId: 42, userId: 42, text: "thanks" })
    await s.telegram.waitForSent(2)

    await page.getByRole("link", { name: "Deliveries", exact: true }).click()
    const ledger = page.getByRole("table", { name: "Deliveries, newest first" })
    await ledger.getByText("echo: thanks").waitFor()
    expect(await ledger.locator("tbody tr").count()).toBe(2)
    await screenshot(page, "deliveries")

    await page.getByRole("link", { name: "Schedules", exact: true }).click()
    const jobs = page.getByRole("table", { name: "Scheduled jobs" })
    await jobs.getByText("Remind the user to stretch").waitFor()
    await screenshot(page, "schedules")
    await jobs.getByRole("button", { name: /^Edit / }).click()
    await jobs.getByLabel("New prompt").fill("Remind the user to stretch twice")
    await jobs.getByRole("button", { name: "Save" }).click()
    await jobs.getByText("Remind the user to stretch twice").waitFor()
    await jobs.getByRole("button", { name: /^Cancel / }).click()
    await jobs.getByText("cancelled").waitFor()
    expect(await jobs.getByRole("button", { name: /^Cancel / }).count()).toBe(0)

    await page.getByRole("link", { name: "Config", exact: true }).click()
    await page.getByRole("heading", { name: "Config" }).waitFor()
    await page.locator("details", { hasText: "allowed_user_ids" }).waitFor()
    const config = await page.locator("main").textContent()
    expect(config).toContain("[redacted]")
    expect(config).toContain("allowed_user_ids")
    expect(config).not.toContain(token)
    expect(config).not.toContain(s.telegram.token)
    await screenshot(page, "config")

    // A phone: the menu wraps and the transcript fits the width (no sideways scrolling of the page).
    await page.setViewportSize({ width: 390, height: 844 })
    await page.getByRole("link", { name: "Conversations", exact: true }).click()
    await page.getByRole("link", { name: chat }).click()
    await page.getByRole("region", { name: "Transcript" }).getByText("echo: thanks").waitFor()
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    await screenshot(page, "phone")
  })
  it("a schedule created on the dashboard fires in the chat, and its history shows the delivered run", async () => {
    const s = await started((request) =>
      JSON.stringify(request.messages).includes("Remind the user to drink water")
        ? { content: "Time to drink water." }
        : echo(request)
    )
    const { page } = s
    await signIn(s)
    await page.getByRole("link", { name: "Schedules", exact: true }).click()
    await page.getByText("New schedule").click()
    const form = page.getByRole("form", { name: "New schedule" })
    // A wrong field is named.
    await form.getByLabel("Conversation").fill("nowhere")
    await form.getByLabel("Prompt").fill("Remind the user to drink water")
    await form.getByLabel("Delay in seconds").fill("1")
    await form.getByRole("button", { name: "Create" }).click()
    await form.getByRole("alert").getByText(/^conversation_id: /).waitFor()

    await form.getByLabel("Conversation").fill(chat)
    await form.getByRole("button", { name: "Create" }).click()
    await page.getByText(/^Created j\w+, first run /).waitFor()
    await s.telegram.waitFor((f) => f.sent.some((m) => m.text === "Time to drink water."), 15_000)
    expect(sentTexts(s)).toEqual(["Time to drink water."])

    const jobs = page.getByRole("table", { name: "Scheduled jobs" })
    await jobs.getByText("completed").waitFor()
    await jobs.getByRole("button", { name: /^History of / }).click()
    const runs = page.getByRole("table", { name: /^Runs of / })
    await runs.getByText("completed").waitFor()
    expect(await runs.locator("tbody tr").count()).toBe(1)
    expect(await runs.locator("tbody tr code").allTextContents()).toEqual([expect.stringMatching(/^job:j\w+:\d+$/)])
  })

  it("pausing the Telegram channel keeps a message, answered once after resume", async () => {
    const s = await started()
    const { page } = s
    await signIn(s)
    await page.getByRole("link", { name: "Channels", exact: true }).click()
    const telegram = page.locator(`tr[data-channel="telegram"]`)
    await telegram.getByText("running").waitFor()
    await telegram.getByRole("button", { name: "Pause telegram" }).click()
    await telegram.getByText("paused").waitFor()
    await page.getByText("telegram is paused.").waitFor()

    s.telegram.pushText({ chatId: 42, userId: 42, text: "written while paused" })
    await telegram.getByRole("button", { name: "Resume telegram" }).click()
    await telegram.getByText("running").waitFor()
    await s.telegram.waitFor((f) => f.sent.some((m) => m.text === "echo: written while paused"), 15_000)
    expect(sentTexts(s)).toEqual(["echo: written while paused"])
    await screenshot(page, "channels")
  })

  it("a 429 on getUpdates shows the channel failing with the error and its back-off, then running again", async () => {
    const s = await started()
    const { page } = s
    await signIn(s)
    const overview = page.locator(`li[data-channel="telegram"]`)
    await overview.getByText("running").waitFor()
    await overview.getByText("long polling").waitFor()

    s.telegram.failNext("getUpdates", { status: 429, retryAfter: 4 })
    await overview.getByText("failing").waitFor({ timeout: 20_000 })
    await overview.getByText(/Too Many Requests: retry after 4/).waitFor()
    await overview.locator(".backoff").getByText(/^until /).waitFor()

    await page.getByRole("link", { name: "Channels", exact: true }).click()
    const row = page.locator(`tr[data-channel="telegram"]`)
    await row.getByText("failing").waitFor()
    await row.getByText(/Too Many Requests/).waitFor()
    // Telegram answers again after the back-off: running, the error kept for the record.
    await row.getByText("running").waitFor({ timeout: 20_000 })
    await row.getByText(/Too Many Requests/).waitFor()
    expect(await row.locator(".backoff").count()).toBe(0)
  })

  it("webhook mode: the overview shows how long ago Telegram last posted an update", async () => {
    const secret = "dashboard-webhook-secret"
    const s = await started(
      echo,
      `mode = "webhook"\nwebhook_url = "https://bot.example.com/telegram/hook"\nwebhook_secret = "${secret}"`
    )
    const { page } = s
    await signIn(s)
    const overview = page.locator(`li[data-channel="telegram"]`)
    await overview.getByText("webhook", { exact: true }).waitFor()
    expect(await overview.getByText("Last update through the webhook").count()).toBe(0)

    const posted = await fetch(`http://127.0.0.1:${s.port}/telegram/hook`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret },
      body: JSON.stringify({
        update_id: 900,
        message: {
          message_id: 900,
          date: 0,
          chat: { id: 42, type: "private", first_name: "Ann" },
          from: { id: 42, is_bot: false, first_name: "Ann" },
          text: "through the webhook"
        }
      })
    })
    expect(posted.status).toBe(200)
    await s.telegram.waitFor((f) => f.sent.some((m) => m.text === "echo: through the webhook"), 15_000)
    // The events of that turn refresh the status on the page.
    await overview.getByText("Last update through the webhook").waitFor()
    expect(await overview.getByText("Last getUpdates answer").count()).toBe(0)
  })

  it("the Logs page tails the daemon's log, filtered by level and component", async () => {
    const s = await started()
    const { page } = s
    await signIn(s)
    await page.getByRole("link", { name: "Logs", exact: true }).click()
    const log = page.getByRole("log", { name: "Log lines" })
    await log.getByText("minibot started").waitFor()

    // A line written after the page opened shows up without a reload.
    expect(await page.evaluate(() => fetch("/api/channels/telegram/pause", { method: "POST" }).then((r) => r.status)))
      .toBe(200)
    await log.getByText("channel paused by the operator").waitFor()
    await page.getByLabel("Component").fill("api")
    await page.getByLabel("Component").press("Enter")
    // The lines shown stay until the filtered answer arrives: wait for it to replace them.
    await log.getByText("minibot started").waitFor({ state: "detached" })
    await log.getByText("channel paused by the operator").waitFor()
    await screenshot(page, "logs")

    await page.getByLabel("Level").selectOption("error")
    await log.getByText("No line matches.").waitFor()
  })
  it("Resend on the Deliveries page sends a reply that never reached the chat, once", async () => {
    const s = await started()
    const { page } = s
    s.telegram.failNext("sendMessage", { status: 403 })
    await signIn(s)
    s.telegram.pushText({ chatId: 42, userId: 42, text: "are you there?" })
    await page.getByRole("link", { name: "Deliveries", exact: true }).click()
    const ledger = page.getByRole("table", { name: "Deliveries, newest first" })
    await ledger.getByText("undeliverable").waitFor()
    expect(sentTexts(s)).toEqual([])

    await ledger.getByRole("button", { name: /^Resend / }).click()
    await ledger.getByText("Resent (1 message(s)).").waitFor()
    await s.telegram.waitFor((f) => f.sent.some((m) => m.text === "echo: are you there?"), 15_000)
    await ledger.getByText("delivered").waitFor()
    expect(await ledger.getByRole("button", { name: /^Resend / }).count()).toBe(0)
    expect(sentTexts(s)).toEqual(["echo: are you there?"])
  })

  it("Tasks, Notes and Webhooks: a job cancelled as a task, an owner's note found and deleted", async () => {
    const s = await started((request) => {
      const last = request.messages[request.messages.length - 1]
      if (lastUserContent(request) === "remember and remind" && last?.role === "user") {
        return {
          toolCalls: [
            { name: "memory_save", arguments: { title: "Groceries", data: "milk, eggs, bread" } },
            { name: "schedule_prompt", arguments: { prompt: "Remind the user to shop", delay_seconds: 3600 } }
          ]
        }
      }
      return last?.role === "tool" ? { content: "Noted, and I will remind you." } : echo(request)
    })
    const { page } = s
    await signIn(s)
    s.telegram.pushText({ chatId: 42, userId: 42, text: "remember and remind" })
    await s.telegram.waitFor((f) => f.sent.some((m) => m.text === "Noted, and I will remind you."), 15_000)

    await page.getByRole("link", { name: "Tasks", exact: true }).click()
    const tasks = page.getByRole("table", { name: "Tasks" })
    await tasks.getByText("Remind the user to shop").waitFor()
    await tasks.getByRole("button", { name: /^Runs of / }).click()
    await page.getByRole("table", { name: /^Runs of / }).getByText("Not run yet.").waitFor()
    await tasks.getByRole("button", { name: /^Cancel / }).click()
    await tasks.getByText("cancelled").waitFor()

    await page.getByRole("link", { name: "Notes", exact: true }).click()
    await page.getByLabel("Owner").fill("telegram:42")
    await page.getByLabel("Search").fill("eggs")
    await page.getByRole("button", { name: "Show" }).click()
    const notes = page.getByRole("table", { name: "Notes of telegram:42" })
    await notes.getByText("Groceries").waitFor()
    expect(await notes.textContent()).toContain("eggs")
    await notes.getByRole("button", { name: "Delete Groceries" }).click()
    await notes.getByRole("button", { name: "Delete it" }).click()
    await notes.getByText("No note matches.").waitFor()
    // Another owner sees nothing of it.
    await page.getByLabel("Owner").fill("telegram:7")
    await page.getByLabel("Search").fill("")
    await page.getByRole("button", { name: "Show" }).click()
    await page.getByRole("table", { name: "Notes of telegram:7" }).getByText("No note.").waitFor()

    await page.getByRole("link", { name: "Webhooks", exact: true }).click()
    await page.getByText("No webhook is configured ([[webhooks]]).").waitFor()
  })
})
