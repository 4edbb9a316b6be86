import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as DateTimeTool from "../../src/tools/builtin/DateTimeTool.ts"
import { ToolRegistry } from "../../src/tools/ToolRegistry.ts"
import { makeToolsConfig, ToolsSettings } from "../../src/tools/ToolsConfig.ts"
import { callOf, contextFor, notesStoreLayer, parse } from "./helpers.ts"

const now = new Date("2024-07-01T22:30:00Z")

describe("current_datetime", () => {
  it.effect("defaults to the configured zone", () =>
    Effect.gen(function*() {
      const registry = yield* ToolRegistry
      const out = parse(yield* registry.execute(callOf("current_datetime", {}), contextFor("u", { now })))
      expect(out).toEqual({
        ok: true,
        result: {
          timezone: "Europe/Paris",
          iso: "2024-07-02T00:30:00+02:00",
          date: "2024-07-02",
          time: "00:30:00",
          weekday: "Tuesday",
          utc_offset: "+02:00",
          utc: "2024-07-01T22:30:00.000Z",
          unix: 1719873000
        }
      })
    }).pipe(
      Effect.provide(ToolRegistry.layer([DateTimeTool.group])),
      Effect.provide(notesStoreLayer),
      Effect.provide(ToolsSettings.layer({ tools: makeToolsConfig(), timezone: "Europe/Paris" }))
    ))

  it.effect("takes a zone argument and the Effect clock when the turn has no time", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2024-01-15T12:00:00Z"))
      const registry = ToolRegistry.make([DateTimeTool.make("UTC")])
      const out = parse(
        yield* registry.execute(callOf("current_datetime", { timezone: "America/New_York" }), contextFor("u"))
      )
      expect(out.result).toMatchObject({
        timezone: "America/New_York",
        iso: "2024-01-15T07:00:00-05:00",
        weekday: "Monday"
      })
    }))

  it.effect("names the field of an unknown zone", () =>
    Effect.gen(function*() {
      const registry = ToolRegistry.make([DateTimeTool.make("UTC")])
      const out = parse(
        yield* registry.execute(callOf("current_datetime", { timezone: "Mars/Olympus" }), contextFor("u", { now }))
      )
      expect(out).toMatchObject({ ok: false, field: "timezone" })
      expect(out.error).toContain("Unknown time zone")
    }))
})
