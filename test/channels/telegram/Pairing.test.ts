import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { maxPendingCodes, normalizeCode, Pairing, pairingAlphabet } from "../../../src/channels/telegram/Pairing.ts"
import { printable } from "../../../src/cli/Printable.ts"
import { FakeLlm } from "../../support/FakeLlm.ts"
import { makeFakeTelegram } from "../../support/FakeTelegram.ts"
import { eventually } from "../../support/Wait.ts"
import { startDaemon, texts, waitForText } from "./harness.ts"

const codeIn = (text: string) => /code: ([A-Z0-9]{8})\b/.exec(text)?.[1]

describe("Telegram pairing (dm_policy = pairing)", () => {
  it.scopedLive("a stranger gets a code; once approved, they are answered", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const h = yield* startDaemon(fake, llm, { telegram: { dm_policy: "pairing", allowed_user_ids: [] } })
      expect(h.logs.some((l) => l.includes("only users approved with `minibot pairing approve CODE`"))).toBe(true)

      fake.pushText({ chatId: 77, userId: 77, text: "hi, who are you?", username: "newcomer" })
      const reply = yield* waitForText(fake, /pairing approve/)
      const code = codeIn(reply.visibleText)!
      expect(code).toHaveLength(8)
      for (const c of code) expect(pairingAlphabet).toContain(c)
      expect(reply.visibleText).toContain("user id is 77")
      expect(llm.completions()).toHaveLength(0)

      const pairing = yield* h.use(Effect.provide(Pairing, Pairing.Default))
      const pending = yield* pairing.pending
      expect(pending.map((p) => [p.code, p.userId, p.userName])).toEqual([[code, 77, "newcomer"]])

      // Approval as the CLI does it (with sloppy typing), while the daemon runs.
      const approved = yield* pairing.approve(`${code.slice(0, 4).toLowerCase()}-${code.slice(4)}`)
      expect(approved.userId).toBe(77)
      expect(yield* pairing.pending).toEqual([])
      expect((yield* pairing.paired).map((u) => u.userId)).toEqual([77])
      const again = yield* Effect.flip(pairing.approve(code))
      expect(again._tag).toBe("PairingCodeUnknown")

      fake.pushText({ chatId: 77, userId: 77, text: "now?" })
      yield* waitForText(fake, "echo: now?")
      expect(texts(fake.sent)).toHaveLength(2)

      // Revoked: a stranger again (the refusal of the last hour counts, so no new message).
      expect(yield* pairing.revoke(77)).toBe(true)
      const ignored = () => h.logs.filter((l) => l.includes("refused less than an hour ago")).length
      const ignoredBefore = ignored()
      fake.pushText({ chatId: 77, userId: 77, text: "still me" })
      yield* fake.waitForEffect((f) => f.pendingUpdates.length === 0)
      // Turned away at the door: never handed to its conversation.
      yield* eventually(() => ignored() > ignoredBefore, "the ignored message")
      expect(llm.completions()).toHaveLength(1)
    }))

  it.scopedLive("at most three codes wait at a time, but a newcomer takes the oldest; groups get the plain refusal", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const h = yield* startDaemon(fake, llm, { telegram: { dm_policy: "pairing", allowed_user_ids: [] } })
      for (const user of [1, 2, 3, 4]) {
        fake.pushText({ chatId: user, userId: user, text: "hello" })
        yield* fake.waitForSentEffect(user)
      }
      const byChat = new Map(fake.sent.map((m) => [m.chat_id, m.visibleText]))
      for (const user of [1, 2, 3, 4]) expect(codeIn(byChat.get(user)!)).toBeDefined()
      const pairing = yield* h.use(Effect.provide(Pairing, Pairing.Default))
      expect((yield* pairing.pending).map((p) => p.userId)).toEqual([2, 3, 4])
      expect(maxPendingCodes).toBe(3)
      expect(h.logs.some((l) => l.includes("the oldest (user 1") && l.includes("pairing list"))).toBe(true)
      const dropped = yield* Effect.flip(pairing.approve(codeIn(byChat.get(1)!)!))
      expect(dropped._tag).toBe("PairingCodeUnknown")

      fake.pushText({ chatId: -300, userId: 5, text: "@minibot_test_bot hi" })
      const refusal = yield* waitForText(fake, /only answer people/)
      expect(refusal.chat_id).toBe(-300)
      expect(llm.completions()).toHaveLength(0)
    }))

  it("codes are read without regard to case, spaces or dashes", () => {
    expect(normalizeCode(" ab2c-de3f ")).toBe("AB2CDE3F")
    expect(pairingAlphabet).not.toMatch(/[01OIL]/)
  })
})

describe("printable (what `minibot pairing list` prints of a stranger's name)", () => {
  it("strips escape sequences, control characters and bidi overrides, and keeps the rest", () => {
    const forged =
      "Eve)  \n  ABCD2345  user 1 (owner, trusted\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07\x1b[2K\x1b[1A\u202e"
    const shown = printable(forged)
    expect(shown).toBe("Eve)    ABCD2345  user 1 (owner, trusted")
    expect(shown).not.toMatch(/[\x00-\x1f\x7f-\x9f\u202e]/)
    expect(printable("Zoë 🙂 Łukasz")).toBe("Zoë 🙂 Łukasz")
    expect(printable("a".repeat(500))).toHaveLength(65)
  })
})
