/**
 * One process per data directory. Two daemons (or a daemon and `minibot console`) on one SQLite
 * file would both run every conversation's mailbox and answer twice, so the second one refuses
 * to start.
 *
 * The lock is SQLite's own file lock on `data_dir/minibot.lock` (an empty database held in an
 * exclusive transaction): the kernel holds it for the process and drops it the moment the process
 * dies, whatever the signal, so a restart right after `kill -9` always gets it, and it works
 * across containers sharing the volume (no pid to compare). `minibot.pid` only tells the operator
 * who holds it.
 */
import { Reactivity } from "@effect/experimental"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Data, Effect, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"

export class DataDirLocked extends Data.TaggedError("DataDirLocked")<{
  readonly dataDir: string
  readonly pid: Option.Option<number>
}> {
  override get message() {
    const who = Option.match(this.pid, { onNone: () => "", onSome: (pid) => ` (pid ${pid})` })
    return `another minibot process${who} is using data_dir ${this.dataDir}; stop it first or set runtime.data_dir to another directory`
  }
}

export class DataDirUnwritable extends Data.TaggedError("DataDirUnwritable")<{
  readonly dataDir: string
  readonly reason: string
}> {
  override get message() {
    return `data_dir ${this.dataDir} is not writable (${this.reason}); set runtime.data_dir to a directory this user can write, or fix its owner and permissions`
  }
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e))

/**
 * Creates `data_dir` (0700: it holds every conversation) or checks an existing one, warning when
 * other users may read it.
 */
export const prepare = (dataDir: string) =>
  Effect.gen(function*() {
    const created = yield* Effect.try({
      try: () => fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 }) !== undefined,
      catch: (e) => new DataDirUnwritable({ dataDir, reason: errorText(e) })
    })
    yield* Effect.try({
      try: () => fs.accessSync(dataDir, fs.constants.W_OK),
      catch: (e) => new DataDirUnwritable({ dataDir, reason: errorText(e) })
    })
    const mode = fs.statSync(dataDir).mode & 0o777
    if (!created && (mode & 0o077) !== 0) {
      yield* Effect.logWarning(
        `data_dir ${dataDir} can be read by other users (mode ${mode.toString(8)}): run chmod 700 ${dataDir}`
      )
    }
  })

/** Creates `file` readable by its owner only, unless it exists; SQLite gives its -wal and -shm files the same mode. */
export const privateFile = (dataDir: string, file: string) =>
  Effect.try({
    try: () => fs.closeSync(fs.openSync(file, "a", 0o600)),
    catch: (e) => new DataDirUnwritable({ dataDir, reason: errorText(e) })
  })

const readPid = (file: string) =>
  Option.liftPredicate(Number(fs.readFileSync(file, "utf8").trim()), (pid) => Number.isInteger(pid) && pid > 0)

/** Earlier versions wrote their pid into `minibot.lock`: such a file (not a database) is replaced. */
const dropLegacyPidFile = (file: string) => {
  const size = fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0
  if (size > 0 && size < 32 && !fs.readFileSync(file).subarray(0, 6).equals(Buffer.from("SQLite"))) {
    fs.rmSync(file, { force: true })
  }
}

/** Holds `data_dir/minibot.lock` for the life of the scope. */
export const acquire = (dataDir: string) =>
  Effect.gen(function*() {
    yield* prepare(dataDir)
    const file = path.join(dataDir, "minibot.lock")
    const pidFile = path.join(dataDir, "minibot.pid")
    yield* Effect.try({
      try: () => dropLegacyPidFile(file),
      catch: (e) => new DataDirUnwritable({ dataDir, reason: errorText(e) })
    })
    yield* privateFile(dataDir, file)
    const lock = yield* SqliteClient.make({ filename: file, disableWAL: true }).pipe(
      Effect.provide(Reactivity.layer),
      // better-sqlite3 throws from its constructor (a defect) when the file cannot be opened.
      Effect.catchAllDefect((e) => new DataDirUnwritable({ dataDir, reason: errorText(e) }))
    )
    // A process that was just killed may take a moment to be torn down: wait briefly before refusing.
    yield* lock.unsafe("PRAGMA busy_timeout = 500").pipe(
      Effect.zipRight(lock.unsafe("PRAGMA locking_mode = EXCLUSIVE")),
      Effect.zipRight(lock.unsafe("BEGIN EXCLUSIVE")),
      Effect.mapError((e) =>
        (e.cause as { code?: string } | undefined)?.code === "SQLITE_BUSY"
          ? new DataDirLocked({ dataDir, pid: Option.flatten(Option.liftThrowable(readPid)(pidFile)) })
          : new DataDirUnwritable({ dataDir, reason: errorText(e.cause ?? e) })
      )
    )
    yield* Effect.acquireRelease(
      Effect.try(() => fs.writeFileSync(pidFile, String(process.pid), { mode: 0o600 })),
      () => Effect.sync(() => fs.rmSync(pidFile, { force: true }))
    ).pipe(Effect.ignore)
  })
