import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Logger, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as DataDirLock from "../../src/storage/DataDirLock.ts"
import { tempDir } from "../support/Harness.ts"

const mode = (file: string) => fs.statSync(file).mode & 0o777

describe("DataDirLock", () => {
  it.scoped("a second holder is refused, naming the holder's pid; the lock is free once the first scope ends", () =>
    Effect.gen(function*() {
      const dataDir = path.join(tempDir(), "data")
      yield* Effect.scoped(Effect.gen(function*() {
        yield* DataDirLock.acquire(dataDir)
        const second = yield* Effect.exit(Effect.scoped(DataDirLock.acquire(dataDir)))
        expect(second).toEqual(Exit.fail(new DataDirLock.DataDirLocked({ dataDir, pid: Option.some(process.pid) })))
      }))
      expect(yield* Effect.exit(Effect.scoped(DataDirLock.acquire(dataDir)))).toEqual(Exit.void)
    }))

  it.scoped("creates data_dir 0700 and the lock 0600, and replaces an older version's pid file", () =>
    Effect.gen(function*() {
      const dataDir = path.join(tempDir(), "data")
      fs.mkdirSync(dataDir, { mode: 0o700 })
      fs.writeFileSync(path.join(dataDir, "minibot.lock"), "12345")
      yield* DataDirLock.acquire(dataDir)
      expect(mode(dataDir)).toBe(0o700)
      expect(mode(path.join(dataDir, "minibot.lock"))).toBe(0o600)
      expect(fs.readFileSync(path.join(dataDir, "minibot.pid"), "utf8")).toBe(String(process.pid))
    }))

  it.scoped("warns about an existing data_dir other users can read", () =>
    Effect.gen(function*() {
      const dataDir = tempDir()
      fs.chmodSync(dataDir, 0o755)
      const logs: Array<string> = []
      yield* DataDirLock.prepare(dataDir).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, (l) => void logs.push(l))))
      )
      expect(logs).toEqual([expect.stringContaining(`can be read by other users (mode 755): run chmod 700 ${dataDir}`)])
      expect(logs[0]).toContain("level=WARN")
    }))

  it.effect("a data_dir that cannot be created is DataDirUnwritable", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir(), "a-file")
      fs.writeFileSync(file, "")
      const exit = yield* Effect.exit(Effect.scoped(DataDirLock.acquire(path.join(file, "data"))))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "DataDirUnwritable" })))
    }))
})
