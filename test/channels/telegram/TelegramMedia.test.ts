import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { photoSize } from "../../../src/channels/telegram/TelegramIntake.ts"
import { FakeLlm, imagesOf, lastUserContent } from "../../support/FakeLlm.ts"
import { makeFakeTelegram } from "../../support/FakeTelegram.ts"
import { tempDir } from "../../support/Harness.ts"
import { makePdf } from "../../support/Pdf.ts"
import { pollUntil } from "../../support/Wait.ts"
import { startDaemon, texts, waitForText, withDaemon } from "./harness.ts"

/** A tiny "JPEG": the JPEG signature, then bytes no other test uses. */
const jpeg = (n: number) =>
  new Uint8Array([0xff, 0xd8, 0xff, 0xe0, ...Array.from({ length: 64 }, (_, i) => (i * n) % 256)])
const utf8 = (text: string) => new TextEncoder().encode(text)

describe("Telegram media: photos", () => {
  it.scopedLive("a photo's bytes reach the model as a data URL with its caption, never the token or the file URL", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const h = yield* startDaemon(fake, llm)
      const photo = jpeg(7)
      fake.pushPhoto({ chatId: 42, userId: 42, file: { bytes: photo }, caption: "what is this?" })
      yield* waitForText(fake, /what is this\?/)
      const [request] = llm.completions()
      const images = imagesOf(request!.body)
      expect(images).toHaveLength(1)
      expect(images[0]!.mime).toBe("image/jpeg")
      expect(Buffer.compare(images[0]!.bytes, Buffer.from(photo))).toBe(0)
      expect(lastUserContent(request!.body)).toContain("what is this?")
      // The largest size was downloaded (not the thumbnail), with getFile first.
      expect(fake.callsOf("getFile")).toHaveLength(1)
      expect(fake.downloads).toEqual([expect.stringMatching(/^photos\/file_/)])

      fake.pushText({ chatId: 42, userId: 42, text: "and its colour?" })
      yield* waitForText(fake, "echo: and its colour?")
      const later = llm.completions()[1]!.body
      // The later turn refers to the photo (file id in the history) without sending it again.
      expect(imagesOf(later)).toHaveLength(0)
      expect(JSON.stringify(later.messages)).toContain("[photo (file AgAC-fake-file-2)]")
      for (const r of llm.requests) {
        const raw = JSON.stringify(r.body ?? "")
        expect(raw).not.toContain(fake.token)
        expect(raw).not.toContain("/file/bot")
      }
      expect(h.logs.some((line) => line.includes(fake.token))).toBe(false)
    }))

  it.scopedLive("a 5xx from getFile is retried; one that persists gets a short reply and no log line shows the token", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const h = yield* startDaemon(fake, llm)
      fake.failNext("getFile", { status: 502 })
      fake.pushPhoto({ chatId: 42, userId: 42, file: { bytes: jpeg(10) }, caption: "first" })
      yield* waitForText(fake, /first/)
      expect(fake.callsOf("getFile").map((c) => c.status)).toEqual([502, 200])
      fake.failNext("getFile", { status: 500, times: 10 })
      fake.pushPhoto({ chatId: 42, userId: 42, file: { bytes: jpeg(11) }, caption: "second" })
      yield* waitForText(fake, "Sorry, I couldn't download your file. Please try sending it again.")
      expect(fake.callsOf("getFile")).toHaveLength(5)
      expect(llm.completions()).toHaveLength(1)
      expect(h.logs.some((line) => line.includes("could not fetch the image")))
        .toBe(true)
      expect(h.logs.filter((line) => line.includes(fake.token) || line.includes("/file/bot"))).toEqual([])
    }))

  it.scopedLive("an album is answered as one turn with all its pictures", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      yield* startDaemon(fake, llm)
      fake.pushPhoto({ chatId: 42, userId: 42, file: { bytes: jpeg(1) }, caption: "compare these", mediaGroupId: "g1" })
      fake.pushPhoto({ chatId: 42, userId: 42, file: { bytes: jpeg(2) }, mediaGroupId: "g1" })
      fake.pushPhoto({ chatId: 42, userId: 42, file: { bytes: jpeg(3) }, mediaGroupId: "g1" })
      yield* waitForText(fake, /compare these/)
      fake.pushText({ chatId: 42, userId: 42, text: "thanks" })
      yield* waitForText(fake, "echo: thanks")
      expect(texts(fake.sent)).toHaveLength(2)
      const [albumTurn] = llm.completions()
      expect(imagesOf(albumTurn!.body).map((image) => image.bytes[5])).toEqual([jpeg(1)[5], jpeg(2)[5], jpeg(3)[5]])
      expect(llm.completions()).toHaveLength(2)
    }))

  it.scopedLive("an album whose turn was cut short by a shutdown is answered once, whole, after the restart", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const dataDir = tempDir("minibot-album-")
      // The first run waits long for more parts: it is stopped inside the album's window.
      yield* withDaemon(fake, llm, {
        dataDir,
        albumTimings: { quiet: Duration.minutes(5), maxWait: Duration.minutes(5) }
      }, (h) =>
        Effect.gen(function*() {
          fake.pushPhoto({ chatId: 42, userId: 42, file: { bytes: jpeg(8) }, caption: "both?", mediaGroupId: "g2" })
          fake.pushPhoto({ chatId: 42, userId: 42, file: { bytes: jpeg(9) }, mediaGroupId: "g2" })
          yield* fake.waitForEffect((f) => f.pendingUpdates.length === 0 && f.callsOf("getUpdates").length > 2)
          yield* pollUntil(h.sql`SELECT COUNT(*) AS n FROM media_group_parts`, (rows) => Number(rows[0]!.n) === 2)
        }))
      expect(fake.sent).toHaveLength(0)
      yield* withDaemon(fake, llm, { dataDir }, () => waitForText(fake, /both\?/))
      expect(texts(fake.sent)).toHaveLength(1)
      expect(llm.completions()).toHaveLength(1)
      expect(imagesOf(llm.completions()[0]!.body)).toHaveLength(2)
    }))

  it.scopedLive("with vision = false the person is told the model cannot see images, and nothing is downloaded", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      yield* startDaemon(fake, llm, { llm: { vision: false } })
      fake.pushPhoto({ chatId: 42, userId: 42, file: { bytes: jpeg(4) } })
      yield* waitForText(fake, /can't see images/)
      expect(llm.completions()).toHaveLength(0)
      expect(fake.downloads).toHaveLength(0)
    }))

  it.scopedLive("with vision = \"auto\", a model that refuses pictures gets the person a clear explanation", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make({ noVision: true })
      yield* startDaemon(fake, llm)
      fake.pushPhoto({ chatId: 42, userId: 42, file: { bytes: jpeg(5) }, caption: "look" })
      yield* waitForText(fake, /could not take the picture/)
      fake.pushText({ chatId: 42, userId: 42, text: "ok, in words then" })
      yield* waitForText(fake, "echo: ok, in words then")
    }))
})

describe("Telegram media: photo sizes", () => {
  it("the largest size under the cap is chosen; the smallest when none fits", () => {
    const sizes = [
      { file_id: "s", file_size: 1_000 },
      { file_id: "m", file_size: 50_000 },
      { file_id: "l", file_size: 900_000 }
    ]
    expect(photoSize(sizes, 100_000)?.file_id).toBe("m")
    expect(photoSize(sizes, 1_000_000)?.file_id).toBe("l")
    expect(photoSize(sizes, 10)?.file_id).toBe("s")
  })
})

describe("Telegram media: voice", () => {
  it.scopedLive("a voice note's transcript becomes the turn, is echoed with show_transcript, and history says so", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      yield* startDaemon(fake, llm, {
        llm: { transcription: { model: "whisper-1", language: "en", show_transcript: true } }
      })
      // The fake transcribes audio as the text its bytes spell.
      fake.pushVoice({ chatId: 42, userId: 42, file: { bytes: utf8("remind me to buy milk") } })
      yield* waitForText(fake, /echo: .*remind me to buy milk/)
      expect(texts(fake.sent)[0]).toBe("Transcript: remind me to buy milk")
      expect(llm.transcriptions).toHaveLength(1)
      expect(llm.transcriptions[0]).toMatchObject({ model: "whisper-1", language: "en", fileName: "voice.ogg" })
      expect(lastUserContent(llm.completions()[0]!.body)).toBe("[voice note, transcribed] remind me to buy milk")
    }))

  it.scopedLive("without a transcription model the person is told voice is not set up", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      yield* startDaemon(fake, llm)
      fake.pushVoice({ chatId: 42, userId: 42, file: { bytes: utf8("hello") } })
      yield* waitForText(fake, /Voice notes are not set up/)
      expect(llm.requests).toHaveLength(0)
    }))
})

describe("Telegram media: documents", () => {
  it.scopedLive("a text document is inlined and a PDF's text reaches the model", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      yield* startDaemon(fake, llm)
      fake.pushDocument({
        chatId: 42,
        userId: 42,
        file: { bytes: utf8("name,total\nann,12\nbob,30\n") },
        fileName: "totals.csv",
        mimeType: "text/csv",
        caption: "who spent most?"
      })
      yield* waitForText(fake, /who spent most/)
      const csvTurn = lastUserContent(llm.completions()[0]!.body)
      expect(csvTurn).toContain("[document totals.csv]")
      expect(csvTurn).toContain("bob,30")
      fake.pushDocument({
        chatId: 42,
        userId: 42,
        file: { bytes: makePdf(["Quarterly revenue rose by 12 percent", "Costs stayed flat"]) },
        fileName: "report.pdf",
        mimeType: "application/pdf"
      })
      yield* waitForText(fake, /Costs stayed flat/)
      const pdfTurn = lastUserContent(llm.completions()[1]!.body)
      expect(pdfTurn).toContain("[PDF report.pdf, 2 pages]")
      expect(pdfTurn).toContain("Quarterly revenue rose by 12 percent")
    }))

  it.scopedLive("an image sent as a file is shown to the model with its own type", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      yield* startDaemon(fake, llm)
      const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3])
      fake.pushDocument({ chatId: 42, userId: 42, file: { bytes: png }, fileName: "chart.png", mimeType: "image/png" })
      yield* waitForText(fake, /chart\.png/)
      const images = imagesOf(llm.completions()[0]!.body)
      expect(images.map((image) => image.mime)).toEqual(["image/png"])
      expect(Buffer.compare(images[0]!.bytes, Buffer.from(png))).toBe(0)
    }))

  it.scopedLive("an unsupported type and a file over 20 MB get clear replies, not silence", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      yield* startDaemon(fake, llm)
      fake.pushDocument({
        chatId: 42,
        userId: 42,
        file: { bytes: new Uint8Array([0x50, 0x4b, 3, 4]) },
        fileName: "archive.zip",
        mimeType: "application/zip"
      })
      yield* waitForText(fake, /can't read this type of file \(archive\.zip\)/)
      fake.pushDocument({
        chatId: 42,
        userId: 42,
        file: { bytes: utf8("huge"), size: 25 * 1024 * 1024 },
        fileName: "huge.txt",
        mimeType: "text/plain"
      })
      yield* waitForText(fake, /too big for me: Telegram lets bots download files up to 20 MB/)
      expect(fake.callsOf("getFile").at(-1)?.status).toBe(400)
      expect(llm.requests).toHaveLength(0)
      expect(fake.downloads).toHaveLength(0)
    }))
})
