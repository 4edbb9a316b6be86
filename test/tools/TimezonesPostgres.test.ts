/** The owners' time zones on Postgres: the same migration and upsert as on SQLite. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import * as Database from "../../src/storage/Database.ts"
import { UserTimezones } from "../../src/tools/timezone/UserTimezones.ts"
import { freshDatabase } from "../support/Postgres.ts"

describe("time zones on Postgres", () => {
  it.scopedLive("a zone is set, replaced and read back per owner", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      yield* Effect.gen(function*() {
        const zones = yield* UserTimezones
        expect(yield* zones.get("a")).toEqual(Option.none())
        expect(yield* zones.set("a", "asia/tokyo")).toBe("Asia/Tokyo")
        expect(yield* zones.set("a", "Europe/Madrid")).toBe("Europe/Madrid")
        expect(yield* zones.set("b", "America/New_York")).toBe("America/New_York")
        expect(yield* zones.get("a")).toEqual(Option.some("Europe/Madrid"))
        expect(yield* zones.zoneOr("c", "UTC")).toBe("UTC")
        expect(yield* Effect.flip(zones.set("a", "Mars/Olympus"))).toMatchObject({ zone: "Mars/Olympus" })
        expect(yield* zones.get("a")).toEqual(Option.some("Europe/Madrid"))
      }).pipe(Effect.provide(UserTimezones.Default.pipe(Layer.provide(Database.postgresAt(Redacted.make(db.url))))))
    }))
})
