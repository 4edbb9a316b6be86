import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { formatForTelegram } from "../../../src/channels/telegram/TelegramFormat.ts"
import { hasOpenFence, renderPreview as renderWith } from "../../../src/channels/telegram/TelegramPreview.ts"

const renderPreview = (update: Parameters<typeof renderWith>[0]) =>
  Effect.runSync(renderWith(update, (markdown) => Effect.succeed(formatForTelegram(markdown))))

describe("what a reply preview shows", () => {
  it("the answer so far as the same HTML as the final reply", () => {
    expect(renderPreview({ kind: "text", text: "Some **bold** and `code`" })).toEqual({
      text: "Some <b>bold</b> and <code>code</code>",
      parseMode: "HTML"
    })
  })

  it("plain text while a code block is open; HTML again once it closes", () => {
    const open = "Look:\n\n```ts\nconst a = 1 < 2"
    expect(hasOpenFence(open)).toBe(true)
    expect(renderPreview({ kind: "text", text: open })).toEqual({ text: open })
    const closed = `${open}\n\`\`\`\n\nDone`
    expect(hasOpenFence(closed)).toBe(false)
    expect(renderPreview({ kind: "text", text: closed })?.parseMode).toBe("HTML")
    // A shorter fence inside a longer one does not close it.
    expect(hasOpenFence("````\n```\nstill code")).toBe(true)
  })

  it("a long answer shows its last message-sized part", () => {
    const long = Array.from({ length: 80 }, (_, i) => `Paragraph ${i}: ${"text ".repeat(20)}`).join("\n\n")
    const chunks = formatForTelegram(long)
    expect(chunks.length).toBeGreaterThan(1)
    expect(renderPreview({ kind: "text", text: long })?.text).toBe(chunks.at(-1)!.html)
    const plain = renderPreview({ kind: "text", text: `\`\`\`\n${"x".repeat(5000)}` })
    expect(plain?.text.length).toBe(4096)
  })

  it("plain text when the answer cannot be rendered (the renderer refused or timed out)", () => {
    const refused = Effect.runSync(renderWith({ kind: "text", text: "**bold** [" }, () => Effect.fail("too slow")))
    expect(refused).toEqual({ text: "**bold** [" })
  })

  it("status lines as they are, and nothing for an answer with no visible text yet", () => {
    expect(renderPreview({ kind: "status", text: "Using calculator..." })).toEqual({ text: "Using calculator..." })
    expect(renderPreview({ kind: "text", text: "  " })).toBeUndefined()
  })
})
