import { describe, expect, it } from "@effect/vitest"
import { Either, ParseResult } from "effect"
import { decodeUpdate, kindOf } from "../../../src/channels/telegram/TelegramUpdate.ts"

const message = { message_id: 5, chat: { id: 42, type: "private" }, from: { id: 42, first_name: "Ann" }, text: "hi" }

const problem = (raw: unknown) => {
  const decoded = decodeUpdate(raw)
  return Either.isLeft(decoded) ? ParseResult.TreeFormatter.formatErrorSync(decoded.left) : undefined
}

describe("TelegramUpdate", () => {
  it("accepts a message update, ignoring fields it does not read", () => {
    const decoded = decodeUpdate({ update_id: 1001, message: { ...message, entities: [], date: 1 }, extra: true })
    expect(Either.getOrThrow(decoded)).toEqual({ update_id: 1001, message })
  })

  it("accepts an update of another kind, without a message", () => {
    expect(Either.getOrThrow(decodeUpdate({ update_id: 7, edited_message: message }))).toEqual({ update_id: 7 })
  })

  it.each([0, -3, 1.5, 2 ** 53, "12"])("refuses update_id %s, naming the field", (updateId) => {
    expect(problem({ update_id: updateId, message })).toContain("update_id")
  })

  it("names the wrong field of a message", () => {
    expect(problem({ update_id: 1, message: { ...message, chat: { id: "42", type: "private" } } })).toMatch(
      /chat[\s\S]*id/
    )
  })

  it("tells the kind of an update for the log", () => {
    expect(kindOf({ update_id: 1, callback_query: {} })).toBe("callback_query")
    expect(kindOf({ update_id: 1 })).toBe("empty")
    expect(kindOf(null)).toBe("object")
  })
})
