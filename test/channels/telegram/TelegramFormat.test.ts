import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Bot } from "grammy"
import {
  formatForTelegram,
  markdownToTelegramHtml,
  splitTelegramHtml,
  telegramLength,
  visibleText
} from "../../../src/channels/telegram/TelegramFormat.ts"
import { makeFakeTelegram, parseTelegramHtml } from "../../support/FakeTelegram.ts"

const html = markdownToTelegramHtml
const noSpace = (text: string) => text.replace(/\s+/g, "")
const allowedTags = /^<\/?(b|strong|i|em|u|ins|s|strike|del|span|tg-spoiler|a|code|pre|blockquote)(\s[^>]*)?>$/

/** Every chunk must be valid Telegram HTML on its own and fit the limit as Telegram counts it. */
const expectValidChunks = (chunks: ReadonlyArray<string>, limit: number) => {
  for (const chunk of chunks) {
    const parsed = parseTelegramHtml(chunk)
    expect(parsed, chunk).toEqual({ ok: true, text: expect.any(String) })
    expect(telegramLength(chunk)).toBeLessThanOrEqual(limit)
    expect(telegramLength(chunk)).toBeGreaterThan(0)
    expect(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(chunk)).toBe(false)
  }
}

describe("markdownToTelegramHtml", () => {
  it("renders inline styles", () => {
    expect(html("**bold** __bold__ *it* _it_ ~~gone~~ `a<b`")).toBe(
      "<b>bold</b> <b>bold</b> <i>it</i> <i>it</i> <s>gone</s> <code>a&lt;b</code>"
    )
  })

  it("escapes < > & in text and raw HTML instead of passing it through", () => {
    expect(html("1 < 2 && 3 > 2 <p>para</p> <br> <script>x</script>")).toBe(
      "1 &lt; 2 &amp;&amp; 3 &gt; 2 &lt;p&gt;para&lt;/p&gt; &lt;br&gt; &lt;script&gt;x&lt;/script&gt;"
    )
    expect(html("<div>\nblock\n</div>")).toBe("&lt;div&gt;\nblock\n&lt;/div&gt;")
    expect(html("AT&amp;T &copy;")).toBe("AT&amp;T ©")
  })

  it("renders fenced code with and without a language", () => {
    expect(html("```ts\nconst a = 1 < 2 && b\n```")).toBe(
      "<pre><code class=\"language-ts\">const a = 1 &lt; 2 &amp;&amp; b</code></pre>"
    )
    expect(html("```\nplain <code>\n```")).toBe("<pre>plain &lt;code&gt;</pre>")
    expect(html("    indented\n    code")).toBe("<pre>indented\ncode</pre>")
  })

  it("keeps only safe links", () => {
    expect(html("[site](https://example.com/a?b=1&c=\"2\")")).toBe(
      "<a href=\"https://example.com/a?b=1&amp;c=%222%22\">site</a>"
    )
    expect(html("[chat](tg://resolve?domain=x) [mail](mailto:a@b.c)")).toBe(
      "<a href=\"tg://resolve?domain=x\">chat</a> <a href=\"mailto:a@b.c\">mail</a>"
    )
    expect(html("[relative](/docs) [ftp](ftp://x.org/f)")).toBe("relative ftp")
    expect(html("[bad](javascript:alert(1))")).not.toContain("<a")
    expect(html("[](https://x.org/empty)")).toBe("<a href=\"https://x.org/empty\">https://x.org/empty</a>")
    expect(html("![a cat](https://x.org/cat.png)")).toBe("<a href=\"https://x.org/cat.png\">a cat</a>")
  })

  it("renders blockquotes, flattening nested ones", () => {
    expect(html("> quoted **text**\n> more")).toBe("<blockquote>quoted <b>text</b>\nmore</blockquote>")
    expect(html("> outer\n>\n> > inner")).toBe("<blockquote>outer\n\ninner</blockquote>")
  })

  it("renders lists as text with bullets, numbers and indentation", () => {
    expect(html("- one\n- two\n  - nested\n    - deeper\n- three")).toBe(
      "• one\n• two\n  • nested\n    • deeper\n• three"
    )
    expect(html("1. first\n2. second\n\n   continued")).toBe("1. first\n2. second\n   continued")
    expect(html("3. three\n4. four")).toBe("3. three\n4. four")
    expect(html("- a\n  1. x\n  2. y")).toBe("• a\n  1. x\n  2. y")
  })

  it("renders headings as bold lines and separates paragraphs by one blank line", () => {
    expect(html("# Title\n\nText one\nsoft break  \nhard break\n\n## Sub *it*\nText two")).toBe(
      "<b>Title</b>\n\nText one\nsoft break\nhard break\n\n<b>Sub <i>it</i></b>\n\nText two"
    )
  })

  it("renders tables as aligned monospace text", () => {
    expect(html("| Name | Qty |\n|:-----|----:|\n| apple | 3 |\n| kiwi & co | 12 |")).toBe(
      "<pre>Name      | Qty\n----------+----\napple     |   3\nkiwi &amp; co |  12</pre>"
    )
  })

  it("renders horizontal rules as a line", () => {
    expect(html("above\n\n---\n\nbelow")).toMatch(/^above\n\n─+\n\nbelow$/)
  })

  it("has no leading or trailing blank lines and no unsupported tags", () => {
    const out = html("\n\n# Head\n\n- a\n- b\n\n| x |\n|---|\n| y |\n\n> q\n\n---\n\n```\nc\n```\n\n\n")
    expect(out).toBe(out.trim())
    for (const tag of out.match(/<[^>]*>/g) ?? []) expect(tag).toMatch(allowedTags)
    expect(parseTelegramHtml(out).ok).toBe(true)
  })
})

describe("visibleText / telegramLength", () => {
  it("strips tags, decodes entities, counts UTF-16 code units after trimming", () => {
    expect(visibleText("<b>a &lt;&gt; &amp; &quot;</b> <a href=\"x?a&amp;b\">l</a>")).toBe("a <> & \" l")
    expect(telegramLength("  <b>😀</b>\n")).toBe(2)
    expect(telegramLength("&#128512;")).toBe(2)
  })
})

describe("splitTelegramHtml", () => {
  it("keeps a short message whole", () => {
    expect(splitTelegramHtml("<b>hi</b>")).toEqual(["<b>hi</b>"])
  })

  it("cuts at paragraph boundaries first", () => {
    const [a, b, c] = ["a".repeat(50), "b".repeat(20), "c".repeat(20)]
    // A line break comes later, but the paragraph break is preferred.
    expect(splitTelegramHtml(`${a}\n\n${b}\n${c}`, 80).map((x) => x.trim())).toEqual([a, `${b}\n${c}`])
    // A paragraph break too early (under half the limit) would waste a message: a line break wins.
    const [d, e, f] = ["d".repeat(10), "e".repeat(50), "f".repeat(30)]
    expect(splitTelegramHtml(`${d}\n\n${e}\n${f}`, 80).map((x) => x.trim())).toEqual([`${d}\n\n${e}`, f])
  })

  it("then at line boundaries, then spaces, then anywhere", () => {
    expect(splitTelegramHtml("aaaa\nbbbb cccc", 10).map((c) => c.trim())).toEqual(["aaaa\nbbbb", "cccc"])
    expect(splitTelegramHtml("aaaa bbbb cccc", 10).map((c) => c.trim())).toEqual(["aaaa bbbb", "cccc"])
    expect(splitTelegramHtml("abcdefghijkl", 5)).toEqual(["abcde", "fghij", "kl"])
  })

  it("closes tags at a cut and reopens them with their attributes", () => {
    const input = "<pre><code class=\"language-ts\">" + "line of code;\n".repeat(10) + "</code></pre>"
    const chunks = splitTelegramHtml(input, 50)
    expect(chunks.length).toBeGreaterThan(2)
    for (const chunk of chunks) {
      expect(chunk.startsWith("<pre><code class=\"language-ts\">")).toBe(true)
      expect(chunk.endsWith("</code></pre>")).toBe(true)
    }
    expectValidChunks(chunks, 50)
    const link = splitTelegramHtml("<b>bold <a href=\"https://x.org/?a&amp;b\">a long link text</a> end</b>", 12)
    expect(link[1]).toMatch(/^<b><a href="https:\/\/x.org\/\?a&amp;b">/)
    expectValidChunks(link, 12)
    expect(link.map(visibleText).join("")).toBe("bold a long link text end")
  })

  it("never cuts inside an entity", () => {
    const chunks = splitTelegramHtml("&lt;&gt;&amp;&quot;".repeat(10), 7)
    expectValidChunks(chunks, 7)
    expect(chunks.map(visibleText).join("")).toBe("<>&\"".repeat(10))
  })

  it("never splits a surrogate pair", () => {
    const text = "a" + "😀".repeat(3000)
    const chunks = splitTelegramHtml(`<b>${text}</b>`)
    expect(chunks.length).toBe(2)
    expectValidChunks(chunks, 4096)
    expect(telegramLength(chunks[0]!)).toBe(4095)
    expect(chunks.map(visibleText).join("")).toBe(text)
  })

  it("hard-cuts a single 9,000-character code line", () => {
    const line = Array.from({ length: 9000 }, (_, i) => "abcdefghij<>&"[i % 13]).join("")
    const chunks = formatForTelegram("```sh\n" + line + "\n```")
    expect(chunks.length).toBe(3)
    expectValidChunks(chunks.map((c) => c.html), 4096)
    expect(chunks.map((c) => c.plain).join("")).toBe(line)
    for (const chunk of chunks) expect(chunk.html).toMatch(/^<pre><code class="language-sh">.*<\/code><\/pre>$/s)
  })
})

/** A long model answer: prose, lists, a table, and several code blocks full of < > &. */
const longAnswer = (): string => {
  const sentence = "The quick brown fox & the lazy dog compare 3 < 4 > 2 with **emphasis** and `code<T>`. "
  const paragraph = (n: number) => sentence.repeat(n).trim()
  const code = (lang: string, lines: number) =>
    "```" + lang + "\n" +
    Array.from({ length: lines }, (_, i) => `  if (a[${i}] < b && c > d) { emit("x&y", ${i}) } // 😀`).join("\n") +
    "\n```"
  return [
    "# Report",
    paragraph(15),
    code("ts", 40),
    "- item one\n- item two with a [link](https://example.com/?q=a&b)\n  - nested <item>",
    paragraph(24),
    code("", 25),
    "| a | b |\n|---|---|\n| 1 < 2 | x & y |",
    paragraph(18),
    code("python", 90),
    "> a closing quote & remark"
  ].join("\n\n")
}

describe("formatForTelegram with the fake Bot API", () => {
  it.scoped("a 10,000-character answer splits into chunks Telegram accepts, losing nothing", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram({ floodLimits: false })
      const bot = new Bot(fake.token, { client: { apiRoot: fake.url } })
      const markdown = longAnswer()
      expect(markdown.length).toBeGreaterThan(10_000)
      const full = markdownToTelegramHtml(markdown)
      const chunks = formatForTelegram(markdown)
      expect(chunks.length).toBeGreaterThan(2)
      expectValidChunks(chunks.map((c) => c.html), 4096)

      for (const chunk of chunks) {
        yield* Effect.promise(() => bot.api.sendMessage(42, chunk.html, { parse_mode: "HTML" }))
      }
      expect(fake.sent.length).toBe(chunks.length)
      for (const [i, sent] of fake.sent.entries()) {
        expect(sent.visibleText.length).toBeLessThanOrEqual(4096)
        expect(sent.visibleText).toBe(chunks[i]!.plain)
      }
      expect(chunks.map((c) => visibleText(c.html)).join("")).toBe(visibleText(full))
      expect(noSpace(fake.sent.map((s) => s.visibleText).join(""))).toBe(noSpace(visibleText(full)))
    }))

  it.scoped("the plain fallback of every chunk is accepted without parse_mode", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram({ floodLimits: false })
      const bot = new Bot(fake.token, { client: { apiRoot: fake.url } })
      for (const chunk of formatForTelegram(longAnswer())) {
        yield* Effect.promise(() => bot.api.sendMessage(7, chunk.plain))
      }
      expect(fake.sent.every((s) => s.parse_mode === undefined)).toBe(true)
    }))

  it.scoped("text and code full of < > & are accepted", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram({ floodLimits: false })
      const bot = new Bot(fake.token, { client: { apiRoot: fake.url } })
      const [chunk] = formatForTelegram("if a < b && c > d: `x<y>&z` <b>not bold</b>\n\n```\n<<>>&&\n```")
      yield* Effect.promise(() => bot.api.sendMessage(1, chunk!.html, { parse_mode: "HTML" }))
      expect(fake.sent[0]!.visibleText).toBe("if a < b && c > d: x<y>&z <b>not bold</b>\n\n<<>>&&")
    }))

  it("an empty answer gives no chunks", () => {
    expect(formatForTelegram("")).toEqual([])
    expect(formatForTelegram("\n\n   \n")).toEqual([])
  })
})
