/**
 * The operator's side of scheduled jobs, with the daemon and the CLI as real processes (dist/main.js)
 * on one data dir: `minibot jobs list [--owner]` and `jobs cancel ID` stop any person's job, and
 * `minibot pairing revoke` stops every job of the person revoked.
 */
import { describe, expect, it } from "@effect/vitest"
import { processScope, requireBuilt, telegramDaemonConfig } from "../support/Daemon.ts"
import { lastUserContent, startFakeLlm } from "../support/FakeLlm.ts"
import { type FakeTelegramServer, startFakeTelegram } from "../support/FakeTelegram.ts"
import { tempDir } from "../support/Harness.ts"

const { adopt, launch } = processScope()
requireBuilt("jobs cancel", "jobs commands")

const start = (args: ReadonlyArray<string>, cwd: string) => launch(args, { cwd })

/** Runs a CLI command to its end. */
const cli = async (args: ReadonlyArray<string>, cwd: string) => {
  const p = start(args, cwd)
  const { code } = await p.exited
  return { code, stdout: p.stdout, stderr: p.stderr }
}

const owner = 42
const stranger = 77

/** How many times the scheduled prompt `word` answered. */
const fired = (telegram: FakeTelegramServer, word: string) =>
  telegram.sent.filter((m) => m.visibleText === `fired: ${word}`).length

/**
 * Waits until `reference` fired once more (a firing of `stopped` already under way when it was
 * cancelled may still finish meanwhile), then twice more: `stopped` must not fire in that time.
 */
const expectStopped = async (telegram: FakeTelegramServer, stopped: string, reference: string) => {
  const from = fired(telegram, reference)
  await telegram.waitFor((t) => fired(t, reference) >= from + 1, 15_000)
  const stoppedCount = fired(telegram, stopped)
  await telegram.waitFor((t) => fired(t, reference) >= from + 3, 15_000)
  expect(fired(telegram, stopped)).toBe(stoppedCount)
}

const jobId = (listing: string, word: string) => {
  const match = new RegExp(`^\\s+(j[a-z0-9]{9})\\s.*"${word}"$`, "m").exec(listing)
  if (match === null) throw new Error(`no job "${word}" in:\n${listing}`)
  return match[1]!
}

describe("minibot jobs (process)", () => {
  it("lists every person's jobs, cancels one by id, and pairing revoke stops the revoked person's jobs", async () => {
    const dir = tempDir()
    const telegram = adopt(await startFakeTelegram())
    const llm = adopt(await startFakeLlm())
    // "every second: WORD" schedules the prompt WORD every second; a due prompt answers "fired: WORD".
    llm.script((request) => {
      if (request.messages.at(-1)?.role === "tool") return { content: "scheduled" }
      const text = lastUserContent(request)
      const due = /^Scheduled instruction.*: (\w+)\n/.exec(text)
      if (due !== null) return { content: `fired: ${due[1]}` }
      const asked = /^every second: (\w+)/.exec(text)
      if (asked === null) return { content: "ok" }
      return { toolCalls: [{ name: "schedule_prompt", arguments: { prompt: asked[1]!, interval_seconds: 1 } }] }
    })
    const file = telegramDaemonConfig(
      dir,
      telegram,
      llm,
      `allowed_user_ids = [${owner}]
dm_policy = "pairing"
[scheduler]
min_interval_seconds = 1`
    )
    start(["run", "--config", file], dir)

    // A stranger pairs; then the owner and the stranger each schedule prompts.
    telegram.pushText({ chatId: stranger, userId: stranger, text: "hi" })
    await telegram.waitFor((t) => t.sent.some((m) => /code: [A-Z0-9]{8}\b/.test(m.visibleText)), 15_000)
    const code = /code: ([A-Z0-9]{8})\b/.exec(telegram.sent.at(-1)!.visibleText)![1]!
    expect((await cli(["pairing", "approve", "--config", file, code], dir)).code).toBe(0)
    telegram.pushText({ chatId: owner, userId: owner, text: "every second: alpha" })
    telegram.pushText({ chatId: owner, userId: owner, text: "every second: beta" })
    telegram.pushText({ chatId: stranger, userId: stranger, text: "every second: gamma" })
    await telegram.waitFor((t) => ["alpha", "beta", "gamma"].every((w) => fired(t, w) >= 1), 20_000)

    const all = await cli(["jobs", "list", "--config", file], dir)
    expect(all.code).toBe(0)
    const alpha = jobId(all.stdout, "alpha")
    expect(all.stdout).toMatch(new RegExp(`${alpha}\\s+pending\\s+llm_prompt\\s+every 1s.*owner telegram:${owner}`))
    expect(all.stdout).toMatch(new RegExp(`${jobId(all.stdout, "gamma")}.*owner telegram:${stranger}`))
    const theirs = await cli(["jobs", "list", "--config", file, "--owner", `telegram:${stranger}`], dir)
    expect(theirs.stdout).toContain("\"gamma\"")
    expect(theirs.stdout).not.toContain("\"alpha\"")

    // The operator cancels one of the owner's jobs by id: it stops, the other goes on.
    const cancel = await cli(["jobs", "cancel", "--config", file, alpha], dir)
    expect(cancel.code).toBe(0)
    expect(cancel.stdout).toContain(`cancelled: job ${alpha}`)
    await expectStopped(telegram, "alpha", "beta")
    const again = await cli(["jobs", "cancel", "--config", file, alpha], dir)
    expect(again.code).toBe(1)
    expect(again.stderr).toContain(`job ${alpha} is not active (it is cancelled)`)
    const unknown = await cli(["jobs", "cancel", "--config", file, "jnotajob99"], dir)
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain("no scheduled job has the id jnotajob99")

    // Revoking the stranger stops their recurring prompt too.
    const revoke = await cli(["pairing", "revoke", "--config", file, String(stranger)], dir)
    expect(revoke.code).toBe(0)
    expect(revoke.stdout).toContain("cancelled 1 scheduled job(s)")
    await expectStopped(telegram, "gamma", "beta")

    const after = await cli(["jobs", "list", "--config", file], dir)
    expect(after.stdout).toMatch(/\scancelled\s.*"alpha"/)
    expect(after.stdout).toMatch(/\spending\s.*"beta"/)
    expect(after.stdout).toMatch(/\scancelled\s.*"gamma"/)
  }, 120_000)
})
