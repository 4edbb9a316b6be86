/**
 * Model Markdown -> Telegram HTML, split into messages Telegram accepts.
 *
 * Why HTML: a model's Markdown almost never survives MarkdownV2 escaping, while Telegram's HTML
 * needs only `< > &` escaped. Telegram accepts a handful of tags (no <p>, <br>, <ul>, <h1>), so
 * block structure is rendered as plain text (blank lines, "• ", bold headings) and every chunk of
 * a long answer must be valid HTML on its own: the splitter closes open tags at a cut and reopens
 * them in the next chunk.
 */
import MarkdownIt, { type Token } from "markdown-it"

/** The Bot API limit of `sendMessage` text, counted after entity parsing, in UTF-16 code units. */
export const telegramMessageLimit = 4096

const bullet = "• "
const horizontalRule = "──────────"
/** A split point is a separator only if it keeps at least this share of the limit in the chunk. */
const minFill = 0.5

// `html: false`: raw HTML in the model's answer is text (markdown-it hands it to us as `text`
// tokens), so we escape it instead of passing unknown tags that Telegram would reject.
const md = new MarkdownIt("default", { html: false, linkify: false, typographer: false })

// ---------------------------------------------------------------------------------------------
// Escaping

const escapeHtml = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const escapeAttribute = (text: string): string => escapeHtml(text).replace(/"/g, "&quot;")

/** Telegram makes links of these schemes; anything else (relative, javascript:...) stays text. */
const isSafeHref = (href: string): boolean => /^(https?|tg|mailto):/i.test(href)

// ---------------------------------------------------------------------------------------------
// Markdown -> Telegram HTML

/** Render a model's Markdown answer as Telegram HTML (one string, not yet split). */
export const markdownToTelegramHtml = (markdown: string): string => {
  const cursor: Cursor = { tokens: md.parse(markdown, {}), index: 0 }
  return renderBlocks(cursor, undefined, 0).join("\n\n").trim()
}

interface Cursor {
  readonly tokens: ReadonlyArray<Token>
  index: number
}

const next = (cursor: Cursor): Token | undefined => cursor.tokens[cursor.index++]

const attr = (token: Token, name: string): string => String(token.attrGet(name) ?? "")

/** Renders block tokens up to (and consuming) `closeType`; one string per block. */
const renderBlocks = (cursor: Cursor, closeType: string | undefined, quoteDepth: number): Array<string> => {
  const blocks: Array<string> = []
  for (let token = next(cursor); token !== undefined && token.type !== closeType; token = next(cursor)) {
    switch (token.type) {
      case "paragraph_open":
        blocks.push(renderInlineBlock(cursor))
        break
      case "heading_open": {
        const text = renderInlineBlock(cursor)
        if (text !== "") blocks.push(`<b>${text}</b>`)
        break
      }
      case "fence":
      case "code_block":
        blocks.push(renderCode(token))
        break
      case "hr":
        blocks.push(horizontalRule)
        break
      case "blockquote_open": {
        const inner = renderBlocks(cursor, "blockquote_close", quoteDepth + 1).join("\n\n")
        // Telegram has no nested quotes: an inner quote is just text inside the outer one.
        blocks.push(quoteDepth === 0 ? `<blockquote>${inner}</blockquote>` : inner)
        break
      }
      case "bullet_list_open":
      case "ordered_list_open":
        blocks.push(renderList(cursor, token, quoteDepth))
        break
      case "table_open":
        blocks.push(renderTable(cursor))
        break
      case "html_block":
        blocks.push(escapeHtml(token.content.replace(/\n$/, "")))
        break
    }
  }
  return blocks.filter((block) => block !== "")
}

/** `<open> inline <close>`: renders the inline token and skips the close token. */
const renderInlineBlock = (cursor: Cursor): string => {
  const inline = next(cursor)
  next(cursor)
  return renderInline(inline?.children ?? [])
}

const renderCode = (token: Token): string => {
  const code = escapeHtml(token.content.replace(/\n$/, ""))
  const language = token.info.trim().split(/\s+/)[0] ?? ""
  return /^[\w#+.-]+$/.test(language)
    ? `<pre><code class="language-${language}">${code}</code></pre>`
    : `<pre>${code}</pre>`
}

const renderList = (cursor: Cursor, open: Token, quoteDepth: number): string => {
  const ordered = open.type === "ordered_list_open"
  const closeType = ordered ? "ordered_list_close" : "bullet_list_close"
  let number = Number(attr(open, "start") || 1)
  const items: Array<string> = []
  for (let token = next(cursor); token !== undefined && token.type !== closeType; token = next(cursor)) {
    if (token.type !== "list_item_open") continue
    const marker = ordered ? `${number++}. ` : bullet
    const body = renderBlocks(cursor, "list_item_close", quoteDepth).join("\n")
    // Continuation lines (and nested lists) line up under the item's text.
    const pad = " ".repeat(marker.length)
    items.push(marker + body.split("\n").map((line, i) => (i === 0 || line === "" ? line : pad + line)).join("\n"))
  }
  return items.join("\n")
}

type Align = "left" | "right" | "center"

/** Telegram has no tables: a monospace block with padded columns reads best on a phone. */
const renderTable = (cursor: Cursor): string => {
  const rows: Array<Array<string>> = []
  const aligns: Array<Align> = []
  let row: Array<string> = []
  for (let token = next(cursor); token !== undefined && token.type !== "table_close"; token = next(cursor)) {
    if (token.type === "tr_open") row = []
    else if (token.type === "tr_close") rows.push(row)
    else if (token.type === "th_open" || token.type === "td_open") {
      if (rows.length === 0) aligns.push((/text-align:(\w+)/.exec(attr(token, "style"))?.[1] as Align) ?? "left")
      row.push(plainInline(next(cursor)?.children ?? []))
      next(cursor)
    }
  }
  const columns = Math.max(0, ...rows.map((r) => r.length))
  const widths = Array.from({ length: columns }, (_, c) => Math.max(1, ...rows.map((r) => width(r[c] ?? ""))))
  const line = (cells: ReadonlyArray<string>) =>
    widths.map((w, c) => pad(cells[c] ?? "", w, aligns[c] ?? "left")).join(" | ").trimEnd()
  const [header = [], ...body] = rows
  const lines = [line(header), widths.map((w) => "-".repeat(w)).join("-+-"), ...body.map(line)]
  return `<pre>${escapeHtml(lines.join("\n"))}</pre>`
}

const width = (text: string): number => [...text].length

const pad = (text: string, size: number, align: Align): string => {
  const gap = size - width(text)
  if (align === "right") return " ".repeat(gap) + text
  if (align === "center") return " ".repeat(gap >> 1) + text + " ".repeat(gap - (gap >> 1))
  return text + " ".repeat(gap)
}

/** Inline tokens as unformatted text (table cells live inside <pre>, which allows no tags). */
const plainInline = (tokens: ReadonlyArray<Token>): string =>
  tokens.map((t) => (t.type === "softbreak" || t.type === "hardbreak" ? " " : t.content)).join("")

const renderInline = (tokens: ReadonlyArray<Token>): string => {
  let out = ""
  // Open links: unsafe ones render their text only; an empty link text shows the URL.
  const links: Array<{ readonly href: string | undefined; readonly at: number }> = []
  for (const token of tokens) {
    switch (token.type) {
      case "text":
      case "html_inline":
        out += escapeHtml(token.content)
        break
      case "softbreak":
      case "hardbreak":
        out += "\n"
        break
      case "code_inline":
        out += `<code>${escapeHtml(token.content)}</code>`
        break
      case "strong_open":
        out += "<b>"
        break
      case "strong_close":
        out += "</b>"
        break
      case "em_open":
        out += "<i>"
        break
      case "em_close":
        out += "</i>"
        break
      case "s_open":
        out += "<s>"
        break
      case "s_close":
        out += "</s>"
        break
      case "link_open": {
        const href = attr(token, "href")
        const safe = isSafeHref(href)
        if (safe) out += `<a href="${escapeAttribute(href)}">`
        links.push({ href: safe ? href : undefined, at: out.length })
        break
      }
      case "link_close": {
        const link = links.pop()
        if (link?.href === undefined) break
        if (out.length === link.at) out += escapeHtml(link.href)
        out += "</a>"
        break
      }
      case "image": {
        // Telegram cannot show an inline image: keep its alt text, linked when the URL is safe.
        const src = attr(token, "src")
        const alt = escapeHtml(token.content || src)
        out += isSafeHref(src) ? `<a href="${escapeAttribute(src)}">${alt}</a>` : alt
        break
      }
      default:
        out += escapeHtml(token.content)
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Telegram HTML -> atoms: a tag, an entity, or one code point (so a cut never splits a
// surrogate pair, an entity or a tag).

interface Atom {
  readonly raw: string
  /** What Telegram shows for it: "" for a tag, the decoded character for an entity. */
  readonly text: string
  readonly tag?: { readonly name: string; readonly closing: boolean }
}

const tagPattern = /<(\/?)([a-zA-Z][\w-]*)(?:\s(?:[^>"']|"[^"]*"|'[^']*')*)?\s*>/y
const entityPattern = /&(?:(lt|gt|amp|quot)|#(\d{1,7})|#x([0-9a-fA-F]{1,6}));/y
const namedEntities: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: "\"" }

const decodeCodePoint = (code: number): string | undefined =>
  code > 0 && code < 0x110000 ? String.fromCodePoint(code) : undefined

const tokenize = (html: string): Array<Atom> => {
  const atoms: Array<Atom> = []
  let i = 0
  while (i < html.length) {
    const char = html[i]
    if (char === "<") {
      tagPattern.lastIndex = i
      const tag = tagPattern.exec(html)
      if (tag !== null) {
        atoms.push({ raw: tag[0], text: "", tag: { name: tag[2]!.toLowerCase(), closing: tag[1] === "/" } })
        i += tag[0].length
        continue
      }
    } else if (char === "&") {
      entityPattern.lastIndex = i
      const entity = entityPattern.exec(html)
      const text = entity === null
        ? undefined
        : entity[1] !== undefined
        ? namedEntities[entity[1]]
        : decodeCodePoint(entity[2] !== undefined ? Number(entity[2]) : parseInt(entity[3]!, 16))
      if (entity !== null && text !== undefined) {
        atoms.push({ raw: entity[0], text })
        i += entity[0].length
        continue
      }
    }
    const point = String.fromCodePoint(html.codePointAt(i)!)
    atoms.push({ raw: point, text: point })
    i += point.length
  }
  return atoms
}

/** The text Telegram shows for this HTML: tags removed, entities decoded (not trimmed). */
export const visibleText = (html: string): string => tokenize(html).map((atom) => atom.text).join("")

/** The length Telegram checks against 4096: visible text, trimmed, in UTF-16 code units. */
export const telegramLength = (html: string): number => visibleText(html).trim().length

// ---------------------------------------------------------------------------------------------
// Splitting

/**
 * Split Telegram HTML into chunks of at most `limit` visible UTF-16 code units each, cutting at a
 * paragraph break, else a line break, else a space, else anywhere (between atoms). Tags open at a
 * cut are closed at the end of the chunk and reopened, attributes and all, in the next one.
 */
export const splitTelegramHtml = (html: string, limit = telegramMessageLimit): Array<string> => {
  const atoms = tokenize(html)
  const chunks: Array<string> = []
  let open: Array<Atom> = []
  for (let start = 0; start < atoms.length;) {
    const end = cutPoint(atoms, start, limit)
    let chunk = open.map((tag) => tag.raw).join("")
    let visible = ""
    for (let i = start; i < end; i++) {
      const atom = atoms[i]!
      chunk += atom.raw
      visible += atom.text
      if (atom.tag === undefined) continue
      if (!atom.tag.closing) open.push(atom)
      else {
        const at = open.map((tag) => tag.tag?.name).lastIndexOf(atom.tag.name)
        if (at >= 0) open = open.slice(0, at)
      }
    }
    chunk += open.map((tag) => `</${tag.tag?.name}>`).reverse().join("")
    // Telegram rejects a message that is only white space; such a chunk loses nothing visible.
    if (visible.trim() !== "") chunks.push(chunk)
    start = end
  }
  return chunks
}

/** Index after the last atom of the chunk starting at `start`. */
const cutPoint = (atoms: ReadonlyArray<Atom>, start: number, limit: number): number => {
  // The longest run of atoms whose visible text fits; counting untrimmed text keeps it safe.
  let end = start
  const lengths: Array<number> = [] // visible length of atoms[start, start + k)
  for (let length = 0; end < atoms.length && length + atoms[end]!.text.length <= limit; end++) {
    lengths.push(length)
    length += atoms[end]!.text.length
  }
  if (end === atoms.length) return end
  if (end === start) return start + 1 // one character wider than the limit: nothing better to do

  const textAt = (i: number) => atoms[i]!.text
  const previousText = (i: number): string => {
    for (let j = i - 1; j >= start; j--) if (atoms[j]!.text !== "") return atoms[j]!.text
    return ""
  }
  const separators: ReadonlyArray<(i: number) => boolean> = [
    (i) => textAt(i) === "\n" && previousText(i) === "\n",
    (i) => textAt(i) === "\n",
    (i) => textAt(i) === " " || textAt(i) === "\t"
  ]
  let cut = end
  for (const isSeparator of separators) {
    let found = -1
    for (let i = end - 1; i > start && lengths[i - start]! >= limit * minFill; i--) {
      if (isSeparator(i)) {
        found = i + 1
        break
      }
    }
    if (found > 0) {
      cut = found
      break
    }
  }
  // Leave opening tags for the next chunk and take closing tags along: no empty elements.
  while (cut - 1 > start && atoms[cut - 1]!.tag?.closing === false) cut--
  while (cut < atoms.length && atoms[cut]!.tag?.closing === true) cut++
  return cut
}

// ---------------------------------------------------------------------------------------------

/** One message to send: HTML, and the plain text to resend when Telegram rejects the HTML. */
export interface TelegramChunk {
  readonly html: string
  readonly plain: string
}

/** Markdown answer -> the messages to send, in order (none for an answer with no visible text). */
export const formatForTelegram = (markdown: string, limit = telegramMessageLimit): Array<TelegramChunk> =>
  splitTelegramHtml(markdownToTelegramHtml(markdown), limit).map((html) => ({
    html,
    plain: visibleText(html).trim()
  }))

/**
 * Plain text cut into pieces of at most `limit` UTF-16 code units, at a line break or a space in
 * the second half of the window when there is one, never inside a surrogate pair. Linear, for any
 * size: the fallback when Markdown is not rendered.
 */
export const splitPlainText = (text: string, limit = telegramMessageLimit): Array<string> => {
  const pieces: Array<string> = []
  let start = 0
  while (start < text.length) {
    let end = Math.min(text.length, start + limit)
    if (end < text.length) {
      const window = text.slice(start, end)
      const at = Math.max(window.lastIndexOf("\n"), window.lastIndexOf(" "))
      if (at >= limit * minFill) end = start + at + 1
      else if (/[\uD800-\uDBFF]/.test(text[end - 1]!)) end-- // keep a surrogate pair together
    }
    const piece = text.slice(start, end).trim()
    if (piece !== "") pieces.push(piece)
    start = end
  }
  return pieces
}
