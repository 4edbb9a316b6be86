/**
 * `minibot backup` beside a daemon that is answering: the snapshot is a sound SQLite file, private
 * to its owner, holding the conversations answered before it was taken.
 */
import { Reactivity } from "@effect/experimental"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { processScope, telegramDaemonConfig } from "../support/Daemon.ts"
import { startFakeLlm } from "../support/FakeLlm.ts"
import { startFakeTelegram } from "../support/FakeTelegram.ts"
import { tempDir } from "../support/Harness.ts"

const { adopt, launch } = processScope()

const users = [...Array.from({ length: 5 }, (_, i) => 100 + i), ...Array.from({ length: 20 }, (_, i) => 200 + i)]

const readSnapshot = (file: string) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const sql = yield* SqliteClient.make({ filename: file, readonly: true, disableWAL: true })
      const [check] = yield* sql<{ integrity_check: string }>`PRAGMA integrity_check`
      const replies = yield* sql<{ content: string }>`SELECT content FROM history WHERE role = 'assistant'`
      return { integrity: check?.integrity_check, replies: replies.map((r) => r.content) }
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer))
  )

describe("minibot backup", () => {
  it("a consistent, private snapshot taken while the daemon answers", async () => {
    const dir = tempDir()
    const telegram = adopt(await startFakeTelegram())
    const llm = adopt(await startFakeLlm())
    const config = telegramDaemonConfig(dir, telegram, llm, `allowed_user_ids = [${users.join(", ")}]`)
    const daemon = launch(["run", "--config", config], { cwd: dir })
    await daemon.waitForStderr(/minibot started/, 30_000)

    for (let i = 0; i < 5; i++) telegram.pushText({ chatId: 100 + i, userId: 100 + i, text: `before ${i}` })
    await telegram.waitForSent(5, 30_000)
    // More messages arrive while the snapshot is taken: the daemon is writing meanwhile.
    for (let i = 0; i < 20; i++) telegram.pushText({ chatId: 200 + i, userId: 200 + i, text: `during ${i}` })

    const out = path.join(dir, "snapshots", "minibot.db")
    const backup = launch(["backup", "--config", config, "--out", out], { cwd: dir })
    const { code } = await backup.exited
    expect({ code, stderr: backup.stderr }).toEqual({ code: 0, stderr: "" })
    expect(backup.stdout).toContain(`backup written: ${out}`)
    await telegram.waitForSent(25, 30_000)

    expect(fs.statSync(out).mode & 0o777).toBe(0o600)
    expect(fs.existsSync(`${out}.partial`)).toBe(false)
    const snapshot = await readSnapshot(out)
    expect(snapshot.integrity).toBe("ok")
    for (let i = 0; i < 5; i++) expect(snapshot.replies).toContain(`echo: before ${i}`)

    // A second backup to the same name is refused rather than overwriting the first.
    const again = launch(["backup", "--config", config, "--out", out], { cwd: dir })
    expect((await again.exited).code).toBe(1)
    expect(again.stderr).toContain(`minibot: ${out} already exists; give --out a new file name`)
  }, 90_000)
})
