/**
 * One process per data directory. Two daemons (or a daemon and `minibot console`) on one SQLite
 * file would both run every conversation's mailbox and answer twice, so the second one refuses
 * to start. A lock left by a killed process (its pid is gone) is taken over.
 */
import { Data, Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"

export class DataDirLocked extends Data.TaggedError("DataDirLocked")<{
  readonly dataDir: string
  readonly pid: number
}> {
  override get message() {
    return `another minibot process (pid ${this.pid}) is using data_dir ${this.dataDir}; stop it first or use another data_dir`
  }
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

const tryCreate = (file: string) => {
  try {
    fs.writeFileSync(file, String(process.pid), { flag: "wx" })
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false
    throw e
  }
}

/** Holds `data_dir/minibot.lock` for the life of the scope. */
export const acquire = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      fs.mkdirSync(dataDir, { recursive: true })
      const file = path.join(dataDir, "minibot.lock")
      for (let attempt = 0; attempt < 2; attempt++) {
        if (tryCreate(file)) return Effect.succeed(file)
        const pid = Number(fs.readFileSync(file, "utf8").trim())
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
          return Effect.fail(new DataDirLocked({ dataDir, pid }))
        }
        fs.rmSync(file, { force: true })
      }
      return Effect.fail(new DataDirLocked({ dataDir, pid: -1 }))
    }),
    (file) => Effect.sync(() => fs.rmSync(file, { force: true }))
  )
