import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { SqlBool, SqlInt } from "../../src/storage/Columns.ts"

describe("column schemas", () => {
  it("an integer column decodes from a number or from numeric text (Postgres BIGINT)", () => {
    const decode = Schema.decodeUnknownEither(SqlInt)
    expect(decode(1764662400000)).toEqual(Either.right(1764662400000))
    expect(decode("1764662400000")).toEqual(Either.right(1764662400000))
    expect(decode("-42")).toEqual(Either.right(-42))
    for (const bad of ["", "12abc", "1.5", "NaN", null, 1.5, true]) {
      expect(Either.isLeft(decode(bad))).toBe(true)
    }
    expect(Schema.encodeSync(SqlInt)(7)).toBe(7)
  })

  it("a flag column decodes 0/1 (number or text) and writes 0/1", () => {
    const decode = Schema.decodeUnknownEither(SqlBool)
    expect([1, "1", true, 0, "0", false].map((v) => Either.getOrThrow(decode(v)))).toEqual([
      true,
      true,
      true,
      false,
      false,
      false
    ])
    expect(Either.isLeft(decode(2))).toBe(true)
    expect(Schema.encodeSync(SqlBool)(true)).toBe(1)
    expect(Schema.encodeSync(SqlBool)(false)).toBe(0)
  })
})
