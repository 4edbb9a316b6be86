import { describe, expect, it } from "@effect/vitest"
import { ownerIdOf } from "../../src/runtime/ConversationTurn.ts"

const privateChat = { channel: "telegram" as const, chatId: "42" }
const group = { channel: "telegram" as const, chatId: "-1001" }

describe("who owns the notes and schedules a turn reaches", () => {
  it("in private, the person (or the configured single owner)", () => {
    expect(ownerIdOf(undefined, { conversation: privateChat, userId: "42" })).toBe("telegram:42")
    expect(ownerIdOf("me", { conversation: privateChat, userId: "42" })).toBe("me")
  })

  it("in a group, the group itself, whoever writes and whatever default_owner_id says", () => {
    expect(ownerIdOf(undefined, { conversation: group, userId: "42", isGroup: true })).toBe("telegram:chat:-1001")
    expect(ownerIdOf(undefined, { conversation: group, userId: "43", isGroup: true })).toBe("telegram:chat:-1001")
    expect(ownerIdOf("me", { conversation: group, userId: "42", isGroup: true })).toBe("telegram:chat:-1001")
  })

  it("a scheduled turn acts for the owner its job recorded", () => {
    expect(ownerIdOf("me", { conversation: group, userId: "42", job: { ownerId: "telegram:chat:-1001" } })).toBe(
      "telegram:chat:-1001"
    )
  })
})
