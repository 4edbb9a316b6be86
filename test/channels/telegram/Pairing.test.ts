import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { maxPendingCodes, normalizeCode, Pairing, pairingAlphabet } from "../../../src/channels/telegram/Pairing.ts"
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
      const ignored = () => h.logs.filter((l) => l.includes("ignored (refused less than an hour ago)")).length
      const ignoredBefore = ignored()
      fake.pushText({ chatId: 77, userId: 77, text: "still me" })
      yield* fake.waitForEffect((f) => f.pendingUpdates.length === 0)
      // Turned away at the door: never handed to its conversation.
      yield* eventually(() => ignored() > ignoredBefore, "the ignored message")
      expect(llm.completions()).toHaveLength(1)
    }))

  it.scopedLive("at most three codes wait at a time; a code is valid for an hour; groups get the plain refusal", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const h = yield* startDaemon(fake, llm, { telegram: { dm_policy: "pairing", allowed_user_ids: [] } })
      for (const user of [1, 2, 3, 4]) fake.pushText({ chatId: user, userId: user, text: "hello" })
      yield* fake.waitForSentEffect(4)
      const byChat = new Map(fake.sent.map((m) => [m.chat_id, m.visibleText]))
      for (const user of [1, 2, 3]) expect(codeIn(byChat.get(user)!)).toBeDefined()
      expect(byChat.get(4)).toMatch(/too many pairing requests/)
      const pairing = yield* h.use(Effect.provide(Pairing, Pairing.Default))
      expect(yield* pairing.pending).toHaveLength(maxPendingCodes)

      // An hour later the codes have expired: user 4 gets one now.
      yield* h.sql`UPDATE telegram_pairing_codes SET expires_at = expires_at - ${3_600_000}`
      yield* h.sql`UPDATE telegram_refusals SET refused_at = refused_at - ${3_600_000}`
      expect(yield* pairing.pending).toHaveLength(0)
      const expired = yield* Effect.flip(pairing.approve(codeIn(byChat.get(1)!)!))
      expect(expired._tag).toBe("PairingCodeUnknown")
      fake.pushText({ chatId: 4, userId: 4, text: "hello again" })
      const fourth = yield* waitForText(fake, /pairing approve/, 5_000).pipe(
        Effect.zipRight(fake.waitForEffect((f) => f.sent.filter((m) => m.chat_id === 4).length === 2))
      )
      expect(fourth).toBeUndefined()
      expect(codeIn(fake.sent.filter((m) => m.chat_id === 4)[1]!.visibleText)).toBeDefined()

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
