/**
 * `minibot` as a process (dist/main.js, built by `npm test`'s pretest) against the loopback fake
 * Bot API: what only a real process shows (kill -9, the pairing CLI beside a running daemon).
 */
import { describe, expect, it } from "@effect/vitest"
import { processScope, requireBuilt, telegramDaemonConfig } from "../../support/Daemon.ts"
import { type FakeLlmServer, lastUserContent, startFakeLlm } from "../../support/FakeLlm.ts"
import { type FakeTelegramServer, startFakeTelegram } from "../../support/FakeTelegram.ts"
import { tempDir } from "../../support/Harness.ts"

const { adopt, launch } = processScope()
requireBuilt("telegram-poller", "Telegram channel")

const start = (args: ReadonlyArray<string>, cwd: string) => launch(args, { cwd })

const fakes = async () => ({ telegram: adopt(await startFakeTelegram()), llm: adopt(await startFakeLlm()) })

const config = (dir: string, telegram: FakeTelegramServer, llm: FakeLlmServer, extra: string) =>
  telegramDaemonConfig(dir, telegram, llm, extra, "request_timeout_seconds = 30")

describe("minibot with Telegram, as a process", () => {
  it("kill -9 in the middle of a turn, then a restart: the message is answered exactly once on Telegram", async () => {
    const dir = tempDir()
    const { telegram, llm } = await fakes()
    llm.script((request) =>
      llm.completions().length === 1 ? { hang: true } : { content: `answer to ${lastUserContent(request)}` }
    )
    const file = config(dir, telegram, llm, "allowed_user_ids = [42]")
    const first = start(["run", "--config", file], dir)
    telegram.pushText({ chatId: 42, userId: 42, text: "slow question" })
    await llm.waitFor((f) => f.completions().length === 1, 15_000)
    first.child.kill("SIGKILL")
    expect((await first.exited).signal).toBe("SIGKILL")
    expect(telegram.sent).toHaveLength(0)

    const second = start(["run", "--config", file], dir)
    await telegram.waitForSent(1, 15_000)
    // A duplicate would come before the answer to the next message.
    telegram.pushText({ chatId: 42, userId: 42, text: "anything else?" })
    await telegram.waitForSent(2, 10_000)
    expect(telegram.sent.map((m) => [m.chat_id, m.visibleText])).toEqual([
      [42, "answer to slow question"],
      [42, "answer to anything else?"]
    ])
    expect(llm.completions()).toHaveLength(3)
    expect(second.stderr).not.toContain(telegram.token.split(":")[1]!)
    // Every line is the logger's: no warning Node printed past it (grammY's HTTP client calls the
    // deprecated url.parse on every request).
    expect(second.stderr).not.toContain("DeprecationWarning")
    expect(second.stderr.trim().split("\n").every((line) => line.startsWith("timestamp="))).toBe(true)

    // A clean stop then a start: nothing is answered again.
    second.child.kill("SIGTERM")
    expect((await second.exited).code).toBe(0)
    const third = start(["run", "--config", file], dir)
    await third.waitForStderr(/long polling started/)
    telegram.pushText({ chatId: 42, userId: 42, text: "after restart" })
    await telegram.waitForSent(3, 10_000)
    expect(telegram.sent.map((m) => m.visibleText)).toEqual([
      "answer to slow question",
      "answer to anything else?",
      "answer to after restart"
    ])
  })

  it("pairing through the CLI while the daemon runs: list, approve, then the person is answered", async () => {
    const dir = tempDir()
    const { telegram, llm } = await fakes()
    const file = config(dir, telegram, llm, "dm_policy = \"pairing\"")
    start(["run", "--config", file], dir)
    telegram.pushText({ chatId: 77, userId: 77, text: "hi", username: "newbie" })
    const [offer] = await telegram.waitForSent(1, 15_000)
    const code = /code: ([A-Z0-9]{8})\b/.exec(offer!.visibleText)![1]!

    const list = start(["pairing", "list", "--config", file], dir)
    expect((await list.exited).code).toBe(0)
    expect(list.stdout).toMatch(new RegExp(`${code}\\s+user 77 \\(newbie\\)\\s+expires in \\d+ min`))

    const wrong = start(["pairing", "approve", "--config", file, "ZZZZ2222"], dir)
    expect((await wrong.exited).code).toBe(1)
    expect(wrong.stderr).toContain("no pending pairing request has the code ZZZZ2222")

    const approve = start(["pairing", "approve", "--config", file, code.toLowerCase()], dir)
    expect((await approve.exited).code).toBe(0)
    expect(approve.stdout).toContain("approved: user 77 (newbie)")

    telegram.pushText({ chatId: 77, userId: 77, text: "hello" })
    await telegram.waitForSent(2, 10_000)
    expect(telegram.sent[1]!.visibleText).toBe("echo: hello")
  })

  it("pairing list prints a stranger's crafted name without escape sequences or forged rows", async () => {
    const dir = tempDir()
    const { telegram, llm } = await fakes()
    const file = config(dir, telegram, llm, "dm_policy = \"pairing\"")
    start(["run", "--config", file], dir)
    const firstName = "Eve\n  ZZZZ2222  user 1 (owner, trusted)\x1b]52;c;ZXZpbA==\x07\x1b[31m"
    telegram.pushText({ chatId: 66, userId: 66, text: "hi", firstName })
    await telegram.waitForSent(1, 15_000)

    const list = start(["pairing", "list", "--config", file], dir)
    expect((await list.exited).code).toBe(0)
    expect(list.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/)
    const rows = list.stdout.split("\n").filter((line) => line.includes("user "))
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatch(/user 66 \(Eve {2}ZZZZ2222 {2}user 1 \(owner, trusted\)\)/)
  })
})
