/**
 * A strict loopback fake of the Telegram Bot API, for tests that drive real grammY clients.
 *
 * It is a real HTTP server on 127.0.0.1 answering `POST /bot<token>/<method>` the way the real
 * server does (see /work/shared/TELEGRAM.md): the same status codes and descriptions, HTML parse
 * errors with tdlib's wording, the 4096 limit counted after parsing, flood limits with
 * `retry_after`, getUpdates offsets and long polling, the webhook/getUpdates conflict. Being
 * stricter than the real server is fine (what passes here passes there); being laxer is not.
 *
 *   const fake = yield* makeFakeTelegram()          // scoped: closed with the scope
 *   const bot = new Bot(fake.token, { client: { apiRoot: fake.url } })
 *   fake.pushText({ chatId: 42, userId: 42, text: "hi" })
 *   yield* fake.waitForSentEffect(1)
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type { Message, Update, UserFromGetMe } from "grammy/types"
import { Buffer } from "node:buffer"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

// ---------------------------------------------------------------------------------------------
// Public types

/**
 * Telegram's flood limits as token buckets (TELEGRAM.md: short bursts tolerated, then a rate):
 * each chat has an allowance that refills at its rate, and so do all chats together.
 */
export interface FloodLimits {
  /** Sustained rate per private chat (positive chat id). */
  readonly privatePerSecond: number
  /** Messages a private chat may receive at once before the rate applies. */
  readonly privateBurst: number
  /** Sustained rate per group, supergroup or channel (negative chat id or "@name"). */
  readonly groupPerMinute: number
  /** Messages a group may receive at once before the rate applies. */
  readonly groupBurst: number
  /** Sustained rate over all chats. */
  readonly globalPerSecond: number
  /** Messages all chats together may receive at once. */
  readonly globalBurst: number
}

export const defaultFloodLimits: FloodLimits = {
  privatePerSecond: 1,
  privateBurst: 3,
  groupPerMinute: 20,
  groupBurst: 3,
  globalPerSecond: 30,
  globalBurst: 30
}

export interface FakeTelegramOptions {
  /** The one token the fake accepts; any other gets 401. */
  readonly token?: string
  readonly username?: string
  /** `false` disables flood control; a partial object overrides some limits. */
  readonly floodLimits?: Partial<FloodLimits> | false
  /**
   * Reject `&name;` entities other than lt/gt/amp/quot. The real server keeps them as literal
   * text; the fake is stricter by default so that output relying on that fails in tests.
   */
  readonly strictEntities?: boolean
  /** Clock in milliseconds (flood windows, message dates). */
  readonly now?: () => number
  /**
   * Emulate a Bot API server older than 9.5: `sendMessageDraft` answers 404 "Not Found: method
   * not found".
   */
  readonly withoutDrafts?: boolean
}

export interface ApiCall {
  readonly method: string
  readonly params: Readonly<Record<string, unknown>>
  /** When the request arrived (ms). */
  readonly at: number
  /** HTTP status of the answer, once answered. */
  status?: number
}

/** A message the fake accepted from the bot (sendMessage), updated in place by edits. */
export interface SentMessage {
  readonly message_id: number
  readonly chat_id: number | string
  text: string
  parse_mode: string | undefined
  /** The text as Telegram shows it: parsed, entities decoded, trimmed. */
  visibleText: string
  readonly reply_to_message_id: number | undefined
  readonly reply_parameters: Readonly<Record<string, unknown>> | undefined
  readonly message_thread_id: number | undefined
  readonly at: number
  /** How many times editMessageText changed it. */
  edits: number
}

/** A draft the fake accepted (sendMessageDraft): ephemeral on Telegram, recorded here in order. */
export interface SentDraft {
  readonly chat_id: number
  readonly draft_id: number
  readonly text: string
  readonly parse_mode: string | undefined
  /** The text as Telegram shows it: parsed, entities decoded, trimmed ("" shows "Thinking..."). */
  readonly visibleText: string
  readonly message_thread_id: number | undefined
  readonly at: number
}

export interface Fault {
  readonly status: number
  /** Defaults to the real server's wording for the status. */
  readonly description?: string
  /** Sent as `parameters.retry_after` (and in the default 429 description). */
  readonly retryAfter?: number
  /** How many consecutive calls fail (default 1). */
  readonly times?: number
  /** Answer with this raw body instead of JSON (e.g. nginx's HTML page on a 502). */
  readonly rawBody?: string
}

export interface PushTextOptions {
  readonly chatId: number
  readonly userId: number
  readonly text: string
  readonly chatType?: "private" | "group" | "supergroup" | "channel"
  readonly username?: string
  readonly firstName?: string
  /** message_id of the message replied to (a message the bot sent or a pushed one). */
  readonly replyTo?: number
  /** Forum topic. */
  readonly threadId?: number
}

/** A file the fake serves: `getFile` then `GET /file/bot<token>/<file_path>`. */
export interface FakeFileOptions {
  readonly bytes: Uint8Array
  /** `file_path` (default `<kind>/file_<n>.<ext>`). */
  readonly path?: string
  /** The size Telegram states (default the bytes' length): over 20 MB, getFile refuses the file. */
  readonly size?: number
}

/** A photo, voice note or document sent by a person (a private chat unless `chatType` says otherwise). */
export interface PushMediaOptions extends Omit<PushTextOptions, "text"> {
  readonly caption?: string
  readonly mediaGroupId?: string
}

export interface WebhookState {
  readonly url: string
  readonly secret_token: string | undefined
  readonly allowed_updates: ReadonlyArray<string> | undefined
}

export interface BotCommand {
  readonly command: string
  readonly description: string
}

/** An update as a test writes it: any update kind, `update_id` assigned when missing. */
export type UpdateInput = { readonly update_id?: number } & { readonly [kind: string]: unknown }

export interface FakeTelegramServer {
  /** apiRoot for grammY: `http://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string
  readonly token: string
  readonly botInfo: UserFromGetMe
  /** Every request, in arrival order (including rejected and faulted ones). */
  readonly calls: Array<ApiCall>
  /** Every accepted sendMessage, in order. */
  readonly sent: Array<SentMessage>
  /** Every accepted sendMessageDraft, in order. */
  readonly drafts: Array<SentDraft>
  /** Messages removed with deleteMessage (they stay in `sent`, marked here by chat and id). */
  readonly deleted: Array<{ readonly chat_id: number | string; readonly message_id: number }>
  /** Updates not yet confirmed by a getUpdates offset. */
  readonly pendingUpdates: ReadonlyArray<Update>
  readonly webhook: WebhookState | undefined
  /** Commands set with setMyCommands, by scope and language ("default" for the default scope). */
  readonly commands: ReadonlyMap<string, ReadonlyArray<BotCommand>>
  callsOf(method: string): Array<ApiCall>
  pushUpdate(update: UpdateInput): Update
  pushText(options: PushTextOptions): Update
  /** Stores a file the bot may download; its file_id. */
  addFile(file: FakeFileOptions): string
  /** A photo: a small thumbnail (other bytes) and `file` as the largest size. */
  pushPhoto(options: PushMediaOptions & { readonly file: FakeFileOptions }): Update
  pushVoice(options: PushMediaOptions & { readonly file: FakeFileOptions }): Update
  pushDocument(
    options: PushMediaOptions & { readonly file: FakeFileOptions; readonly fileName: string; readonly mimeType: string }
  ): Update
  /** Paths downloaded through `/file/bot<token>/...`, in order (wrong token or unknown path included). */
  readonly downloads: Array<string>
  failNext(method: string, fault: Fault): void
  /** The next `times` calls of `method` are accepted and never answered (until close). */
  hangNext(method: string, times?: number): void
  waitFor(predicate: (fake: FakeTelegramServer) => boolean, timeoutMs?: number): Promise<void>
  waitForSent(count: number, timeoutMs?: number): Promise<ReadonlyArray<SentMessage>>
  waitForEffect(predicate: (fake: FakeTelegramServer) => boolean, timeoutMs?: number): Effect.Effect<void, Error>
  waitForSentEffect(count: number, timeoutMs?: number): Effect.Effect<ReadonlyArray<SentMessage>, Error>
  close(): Promise<void>
}

// ---------------------------------------------------------------------------------------------
// Entry points

/** Start a fake on a free loopback port. Call `close()` when done. */
export const startFakeTelegram = async (options: FakeTelegramOptions = {}): Promise<FakeTelegramServer> => {
  const fake = new FakeBotApi(options)
  await fake.listen()
  return fake
}

/** The fake as a scoped resource: the server closes (and hung requests drop) with the scope. */
export const makeFakeTelegram = (
  options: FakeTelegramOptions = {}
): Effect.Effect<FakeTelegramServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startFakeTelegram(options)),
    (fake) => Effect.promise(() => fake.close())
  )

/** The fake as a service, for tests that build the daemon's layers on top of it. */
export class FakeTelegram extends Context.Tag("test/FakeTelegram")<FakeTelegram, FakeTelegramServer>() {
  static readonly layer = (options: FakeTelegramOptions = {}): Layer.Layer<FakeTelegram> =>
    Layer.scoped(FakeTelegram, makeFakeTelegram(options))
}

// ---------------------------------------------------------------------------------------------
// Telegram's HTML parser (a port of tdlib's parse_html, which the Bot API server uses)

const supportedTags = new Set([
  "a",
  "b",
  "strong",
  "i",
  "em",
  "s",
  "strike",
  "del",
  "u",
  "ins",
  "tg-spoiler",
  "tg-emoji",
  "span",
  "pre",
  "code",
  "blockquote"
])
const namedEntities: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: "\"" }

// tdlib reads a NUL-terminated string: past the end is "\0", which also counts as space.
const charAt = (text: string, i: number): string => (i < text.length ? text[i]! : "\0")
const isSpace = (c: string) => c === " " || c === "\t" || c === "\r" || c === "\n" || c === "\0" || c === "\v"
const isDigit = (c: string) => c >= "0" && c <= "9"
const isHex = (c: string) => isDigit(c) || (c >= "a" && c <= "f") || (c >= "A" && c <= "F")
const isAlpha = (c: string) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z")
const isAlnum = (c: string) => isDigit(c) || isAlpha(c)
const byteOffset = (text: string, i: number) => Buffer.byteLength(text.slice(0, i), "utf8")
const hasLoneSurrogate = (text: string) =>
  /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text)

type Decoded = { readonly char: string; readonly end: number } | { readonly unknown: string; readonly end: number }

/** tdlib's decode_html_entity: `&#NN;`, `&#xHH;`, `&lt;`... with an optional `;`. */
const decodeEntity = (text: string, pos: number): Decoded | undefined => {
  let end = pos + 1
  let char: string
  if (charAt(text, end) === "#") {
    end++
    let code = 0
    if (charAt(text, end) === "x") {
      end++
      while (isHex(charAt(text, end))) {
        code = code * 16 + parseInt(text[end++]!, 16)
        if (code >= 0x10ffff) return undefined
      }
    } else {
      while (isDigit(charAt(text, end))) {
        code = code * 10 + Number(text[end++])
        if (code >= 0x10ffff) return undefined
      }
    }
    if (code === 0 || end - pos >= 10) return undefined
    char = String.fromCodePoint(code)
  } else {
    while (isAlpha(charAt(text, end))) end++
    const name = text.slice(pos + 1, end)
    const known = namedEntities[name]
    if (known === undefined) {
      return name !== "" && charAt(text, end) === ";" ? { unknown: name, end: end + 1 } : undefined
    }
    char = known
  }
  return { char, end: charAt(text, end) === ";" ? end + 1 : end }
}

export type ParsedHtml = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly error: string }

/** Parse Telegram HTML as the Bot API does; `text` is the visible text (not yet trimmed). */
export const parseTelegramHtml = (text: string, strictEntities = true): ParsedHtml => {
  const fail = (error: string): ParsedHtml => ({ ok: false, error })
  const stack: Array<string> = []
  let result = ""
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === "&") {
      const decoded = decodeEntity(text, i)
      if (decoded !== undefined && "char" in decoded) {
        result += decoded.char
        i = decoded.end
        continue
      }
      if (decoded !== undefined && strictEntities) {
        return fail(`Unsupported HTML entity "&${decoded.unknown};" at byte offset ${byteOffset(text, i)}`)
      }
    }
    if (c !== "<") {
      result += c
      i++
      continue
    }
    const begin = i++
    if (charAt(text, i) !== "/") {
      while (!isSpace(charAt(text, i)) && charAt(text, i) !== ">") i++
      if (i >= text.length) return fail(`Unclosed start tag at byte offset ${byteOffset(text, begin)}`)
      const tag = text.slice(begin + 1, i).toLowerCase()
      if (!supportedTags.has(tag)) {
        return fail(`Unsupported start tag "${tag}" at byte offset ${byteOffset(text, begin)}`)
      }
      let argument = ""
      while (charAt(text, i) !== ">") {
        while (i < text.length && isSpace(charAt(text, i))) i++
        if (charAt(text, i) === ">") break
        const nameBegin = i
        while (!isSpace(charAt(text, i)) && charAt(text, i) !== "=" && charAt(text, i) !== ">") i++
        const attribute = text.slice(nameBegin, i)
        if (attribute === "") {
          return fail(`Empty attribute name in the tag "${tag}" at byte offset ${byteOffset(text, begin)}`)
        }
        while (i < text.length && isSpace(charAt(text, i))) i++
        if (charAt(text, i) !== "=") {
          if (tag === "blockquote" && attribute === "expandable") continue
          return fail(
            `Expected equal sign in declaration of an attribute of the tag "${tag}" at byte offset ${
              byteOffset(text, begin)
            }`
          )
        }
        i++
        while (i < text.length && isSpace(charAt(text, i))) i++
        if (i >= text.length) return fail(`Unclosed start tag "${tag}" at byte offset ${byteOffset(text, begin)}`)
        let value = ""
        const quote = charAt(text, i)
        if (quote !== "\"" && quote !== "'") {
          const tokenBegin = i
          while (isAlnum(charAt(text, i)) || charAt(text, i) === "." || charAt(text, i) === "-") i++
          value = text.slice(tokenBegin, i).toLowerCase()
          if (!isSpace(charAt(text, i)) && charAt(text, i) !== ">") {
            return fail(`Unexpected end of name token at byte offset ${byteOffset(text, tokenBegin)}`)
          }
        } else {
          i++
          while (i < text.length && text[i] !== quote) {
            const decoded = text[i] === "&" ? decodeEntity(text, i) : undefined
            if (decoded !== undefined && "char" in decoded) {
              value += decoded.char
              i = decoded.end
            } else value += text[i++]
          }
          if (charAt(text, i) === quote) i++
        }
        if (i >= text.length) return fail(`Unclosed start tag at byte offset ${byteOffset(text, begin)}`)
        if (tag === "span" && attribute === "class" && value.startsWith("tg-")) argument = value.slice(3)
      }
      if (tag === "span" && argument !== "spoiler") {
        return fail(`Tag "span" must have class "tg-spoiler" at byte offset ${byteOffset(text, begin)}`)
      }
      stack.push(tag)
      i++ // past ">"
    } else {
      if (stack.length === 0) return fail(`Unexpected end tag at byte offset ${byteOffset(text, begin)}`)
      while (!isSpace(charAt(text, i)) && charAt(text, i) !== ">") i++
      const endTag = text.slice(begin + 2, i)
      while (i < text.length && isSpace(charAt(text, i))) i++
      if (charAt(text, i) !== ">") return fail(`Unclosed end tag at byte offset ${byteOffset(text, begin)}`)
      const open = stack.pop()!
      if (endTag !== "" && endTag !== open) {
        return fail(
          `Unmatched end tag at byte offset ${byteOffset(text, begin)}, expected "</${open}>", found "</${endTag}>"`
        )
      }
      i++
    }
  }
  if (stack.length > 0) return fail(`Can't find end tag corresponding to start tag "${stack[stack.length - 1]}"`)
  if (hasLoneSurrogate(result)) {
    return fail(
      "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate code units"
    )
  }
  return { ok: true, text: result }
}

// ---------------------------------------------------------------------------------------------
// Flood control

interface Bucket {
  tokens: number
  at: number
}

/** Answers undefined (allowed, and counted) or the seconds to wait. */
class FloodControl {
  private readonly bannedUntil = new Map<string, number>()
  private readonly buckets = new Map<string, Bucket>()

  constructor(private readonly limits: FloodLimits) {}

  check(chat: string, now: number): number | undefined {
    for (const key of ["*", chat]) {
      const until = this.bannedUntil.get(key) ?? 0
      if (until > now) return Math.ceil((until - now) / 1000) // a ban is not extended by retries
    }
    const isGroup = chat.startsWith("@") || chat.startsWith("-")
    const own = isGroup
      ? this.refill(chat, this.limits.groupBurst, this.limits.groupPerMinute / 60_000, now)
      : this.refill(chat, this.limits.privateBurst, this.limits.privatePerSecond / 1000, now)
    const global = this.refill("*", this.limits.globalBurst, this.limits.globalPerSecond / 1000, now)
    if (global.tokens < 1) return this.ban("*", now, (1 - global.tokens) / (this.limits.globalPerSecond / 1000))
    if (own.tokens < 1) {
      const rate = isGroup ? this.limits.groupPerMinute / 60_000 : this.limits.privatePerSecond / 1000
      return this.ban(chat, now, (1 - own.tokens) / rate)
    }
    own.tokens -= 1
    global.tokens -= 1
    return undefined
  }

  private refill(key: string, burst: number, perMs: number, now: number): Bucket {
    const bucket = this.buckets.get(key) ?? { tokens: burst, at: now }
    bucket.tokens = Math.min(burst, bucket.tokens + Math.max(0, now - bucket.at) * perMs)
    bucket.at = Math.max(bucket.at, now)
    this.buckets.set(key, bucket)
    return bucket
  }

  private ban(key: string, now: number, waitMs: number): number {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000))
    this.bannedUntil.set(key, now + seconds * 1000)
    return seconds
  }
}

// ---------------------------------------------------------------------------------------------
// Request parsing

const readBody = (req: Http.IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const parts: Array<Buffer> = []
    req.on("data", (part: Buffer) => parts.push(part))
    req.on("end", () => resolve(Buffer.concat(parts)))
    req.on("error", reject)
  })

/** Form and multipart values are strings; JSON-looking ones (reply_parameters...) are decoded. */
const formValue = (value: string): unknown => {
  if (/^\s*[[{]/.test(value)) {
    try {
      return JSON.parse(value)
    } catch {
      return value
    }
  }
  return value
}

const parseMultipart = (body: Buffer, boundary: string): Record<string, unknown> => {
  const params: Record<string, unknown> = {}
  const delimiter = Buffer.from(`--${boundary}`)
  let at = body.indexOf(delimiter)
  while (at >= 0) {
    const start = at + delimiter.length
    const end = body.indexOf(delimiter, start)
    if (end < 0) break
    const part = body.subarray(start, end)
    const split = part.indexOf("\r\n\r\n")
    if (split >= 0) {
      const headers = part.subarray(0, split).toString("utf8")
      const content = part.subarray(split + 4, part.length - 2) // drop the CRLF before the delimiter
      const name = /name="?([^";\r\n]+)"?/i.exec(headers)?.[1]
      const filename = /filename="?([^";\r\n]+)"?/i.exec(headers)?.[1]
      if (name !== undefined) {
        params[name] = filename !== undefined
          ? { filename, size: content.length }
          : formValue(content.toString("utf8"))
      }
    }
    at = end
  }
  return params
}

const parseParams = (req: Http.IncomingMessage, url: URL, body: Buffer): Record<string, unknown> => {
  const params: Record<string, unknown> = {}
  url.searchParams.forEach((value, key) => (params[key] = formValue(value)))
  const type = req.headers["content-type"] ?? ""
  if (body.length === 0) return params
  if (type.includes("application/json")) {
    const json: unknown = JSON.parse(body.toString("utf8"))
    if (json !== null && typeof json === "object") Object.assign(params, json)
  } else if (type.includes("application/x-www-form-urlencoded")) {
    new URLSearchParams(body.toString("utf8")).forEach((value, key) => (params[key] = formValue(value)))
  } else if (type.includes("multipart/form-data")) {
    const boundary = /boundary=("?)([^";]+)\1/i.exec(type)?.[2]
    if (boundary !== undefined) Object.assign(params, parseMultipart(body, boundary))
  }
  return params
}

const int = (value: unknown): number | undefined => {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value
  return typeof n === "number" && Number.isInteger(n) ? n : undefined
}

const stringList = (value: unknown): Array<string> | undefined =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : undefined

// ---------------------------------------------------------------------------------------------
// The server

type Answer =
  | { readonly ok: true; readonly result: unknown }
  | {
    readonly ok: false
    readonly error_code: number
    readonly description: string
    readonly parameters?: { readonly retry_after?: number }
  }

const ok = (result: unknown): Answer => ({ ok: true, result })
const error = (error_code: number, description: string, retryAfter?: number): Answer =>
  retryAfter === undefined
    ? { ok: false, error_code, description }
    : { ok: false, error_code, description, parameters: { retry_after: retryAfter } }
const badRequest = (description: string) => error(400, `Bad Request: ${description}`)

/** The public Bot API serves files up to 20 MB (`MAX_DOWNLOAD_FILE_SIZE`). */
export const maxDownloadFileSize = 20 << 20

interface StoredFile {
  readonly fileId: string
  readonly bytes: Uint8Array
  readonly path: string
  readonly size: number
}

const defaultDescriptions: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden: bot was blocked by the user",
  404: "Not Found",
  409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
  500: "Internal Server Error",
  502: "Bad Gateway"
}

const webhookConflict =
  "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
const pollConflict = defaultDescriptions[409]!
/** Update kinds Telegram leaves out unless allowed_updates names them. */
const optInUpdates = new Set(["chat_member", "message_reaction", "message_reaction_count"])
const chatActions = new Set([
  "typing",
  "upload_photo",
  "record_video",
  "upload_video",
  "record_voice",
  "upload_voice",
  "upload_document",
  "choose_sticker",
  "find_location",
  "record_video_note",
  "upload_video_note"
])
const messageLimit = 4096

const updateKind = (update: Update): string => Object.keys(update).find((key) => key !== "update_id") ?? ""

interface Poller {
  readonly answer: (answer: Answer) => void
  readonly limit: number
  readonly timer: ReturnType<typeof setTimeout>
}

interface Waiter {
  readonly check: () => boolean
  readonly resolve: () => void
  readonly reject: (error: Error) => void
  readonly timer: ReturnType<typeof setTimeout>
}

type Handler = (params: Record<string, unknown>, res: Http.ServerResponse) => Answer | Promise<Answer>

class FakeBotApi implements FakeTelegramServer {
  readonly token: string
  readonly botInfo: UserFromGetMe
  readonly calls: Array<ApiCall> = []
  readonly sent: Array<SentMessage> = []
  readonly drafts: Array<SentDraft> = []
  readonly deleted: Array<{ readonly chat_id: number | string; readonly message_id: number }> = []
  readonly commands = new Map<string, ReadonlyArray<BotCommand>>()
  url = ""
  webhook: WebhookState | undefined = undefined

  private readonly server: Http.Server
  private readonly now: () => number
  private readonly strictEntities: boolean
  private readonly withoutDrafts: boolean
  private readonly flood: FloodControl | undefined
  private updates: Array<Update> = []
  private lastUpdateId = 0
  private allowedUpdates: ReadonlyArray<string> | undefined
  private poller: Poller | undefined
  private readonly messageIds = new Map<string, number>()
  private readonly messages = new Map<string, Message>()
  private readonly faults = new Map<string, Array<Fault>>()
  private readonly hangs = new Map<string, number>()
  private readonly hung = new Set<Http.ServerResponse>()
  private waiters: Array<Waiter> = []
  private closed = false
  private readonly files = new Map<string, StoredFile>()
  readonly downloads: Array<string> = []

  constructor(options: FakeTelegramOptions) {
    this.token = options.token ?? "123456789:TEST-fake-telegram-token"
    this.now = options.now ?? Date.now
    this.strictEntities = options.strictEntities ?? true
    this.withoutDrafts = options.withoutDrafts ?? false
    this.flood = options.floodLimits === false
      ? undefined
      : new FloodControl({ ...defaultFloodLimits, ...options.floodLimits })
    this.botInfo = {
      id: Number(this.token.split(":")[0]) || 123456789,
      is_bot: true,
      first_name: "Minibot Test",
      username: options.username ?? "minibot_test_bot",
      can_join_groups: true,
      can_read_all_group_messages: false,
      supports_inline_queries: false,
      can_connect_to_business: false,
      has_main_web_app: false,
      has_topics_enabled: false,
      allows_users_to_create_topics: false
    } as UserFromGetMe
    this.server = Http.createServer((req, res) => {
      this.handle(req, res).catch((cause: unknown) =>
        this.reply(res, undefined, error(500, `Internal Server Error: ${String(cause)}`))
      )
    })
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject)
      this.server.listen(0, "127.0.0.1", () => {
        this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
        resolve()
      })
    })
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.closed = true
    if (this.poller !== undefined) clearTimeout(this.poller.timer)
    this.poller = undefined
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer)
      waiter.reject(new Error("FakeTelegram closed"))
    }
    this.waiters = []
    for (const res of this.hung) res.destroy()
    return new Promise((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }

  get pendingUpdates(): ReadonlyArray<Update> {
    return this.updates
  }

  callsOf(method: string): Array<ApiCall> {
    return this.calls.filter((call) => call.method.toLowerCase() === method.toLowerCase())
  }

  // -- test controls --------------------------------------------------------------------------

  pushUpdate(input: UpdateInput): Update {
    const update_id = input.update_id ?? this.lastUpdateId + 1
    this.lastUpdateId = Math.max(this.lastUpdateId, update_id)
    const update = { ...input, update_id } as Update
    this.updates.push(update)
    this.updates.sort((a, b) => a.update_id - b.update_id)
    this.wakePoller()
    this.notify()
    return update
  }

  pushText(options: PushTextOptions): Update {
    const command = /^\/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?/.exec(options.text)
    return this.pushMessage(options, {
      text: options.text,
      ...(command !== null ? { entities: [{ type: "bot_command", offset: 0, length: command[0].length }] } : {})
    })
  }

  addFile(file: FakeFileOptions): string {
    const n = this.files.size + 1
    const fileId = `AgAC-fake-file-${n}`
    const path = file.path ?? `documents/file_${n}.bin`
    this.files.set(fileId, { fileId, bytes: file.bytes, path, size: file.size ?? file.bytes.length })
    return fileId
  }

  private describe(file: FakeFileOptions, defaultPath: string) {
    const fileId = this.addFile({ ...file, path: file.path ?? defaultPath })
    const stored = this.files.get(fileId)!
    return { file_id: fileId, file_unique_id: `u-${fileId}`, file_size: stored.size }
  }

  private mediaFields(options: PushMediaOptions) {
    return {
      ...(options.caption !== undefined ? { caption: options.caption } : {}),
      ...(options.mediaGroupId !== undefined ? { media_group_id: options.mediaGroupId } : {})
    }
  }

  pushPhoto(options: PushMediaOptions & { readonly file: FakeFileOptions }): Update {
    const n = this.files.size + 1
    const thumb = this.describe({ bytes: new Uint8Array([0xff, 0xd8, 0xff, 0x00]) }, `photos/thumb_${n}.jpg`)
    const full = this.describe(options.file, `photos/file_${n}.jpg`)
    return this.pushMessage(options, {
      photo: [{ ...thumb, width: 90, height: 90 }, { ...full, width: 1280, height: 960 }],
      ...this.mediaFields(options)
    })
  }

  pushVoice(options: PushMediaOptions & { readonly file: FakeFileOptions }): Update {
    const voice = this.describe(options.file, `voice/file_${this.files.size + 1}.oga`)
    return this.pushMessage(options, {
      voice: { ...voice, duration: 3, mime_type: "audio/ogg" },
      ...this.mediaFields(options)
    })
  }

  pushDocument(
    options: PushMediaOptions & { readonly file: FakeFileOptions; readonly fileName: string; readonly mimeType: string }
  ): Update {
    const document = this.describe(options.file, `documents/file_${this.files.size + 1}`)
    return this.pushMessage(options, {
      document: { ...document, file_name: options.fileName, mime_type: options.mimeType },
      ...this.mediaFields(options)
    })
  }

  private pushMessage(options: Omit<PushTextOptions, "text">, content: Record<string, unknown>): Update {
    const chatType = options.chatType ?? (options.chatId > 0
      ? "private"
      : options.chatId <= -1_000_000_000_000
      ? "supergroup"
      : "group")
    const firstName = options.firstName ?? `User${options.userId}`
    const username = options.username !== undefined ? { username: options.username } : {}
    const forum = { is_forum: true }
    const chat = chatType === "private"
      ? { id: options.chatId, type: chatType, first_name: firstName, ...username }
      : { id: options.chatId, type: chatType, title: "Test group", ...(options.threadId !== undefined ? forum : {}) }
    const replied = options.replyTo === undefined
      ? undefined
      : this.messages.get(`${options.chatId}:${options.replyTo}`)
    const from = { id: options.userId, is_bot: false, first_name: firstName, ...username }
    const message = {
      message_id: this.nextMessageId(options.chatId),
      date: Math.floor(this.now() / 1000),
      chat,
      from,
      ...content,
      ...(options.threadId !== undefined ? { message_thread_id: options.threadId, is_topic_message: true } : {}),
      ...(options.replyTo !== undefined
        ? { reply_to_message: replied ?? { message_id: options.replyTo, date: 0, chat } }
        : {})
    } as unknown as Message
    this.messages.set(`${options.chatId}:${message.message_id}`, message)
    return this.pushUpdate({ message })
  }

  failNext(method: string, fault: Fault): void {
    const key = method.toLowerCase()
    const queue = this.faults.get(key) ?? []
    for (let n = 0; n < (fault.times ?? 1); n++) queue.push(fault)
    this.faults.set(key, queue)
  }

  hangNext(method: string, times = 1): void {
    const key = method.toLowerCase()
    this.hangs.set(key, (this.hangs.get(key) ?? 0) + times)
  }

  waitFor(predicate: (fake: FakeTelegramServer) => boolean, timeoutMs = 15_000): Promise<void> {
    if (predicate(this)) return Promise.resolve()
    if (this.closed) return Promise.reject(new Error("FakeTelegram closed"))
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        check: () => predicate(this),
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter)
          reject(new Error(`FakeTelegram.waitFor: timed out after ${timeoutMs} ms (${this.summary()})`))
        }, timeoutMs)
      }
      this.waiters.push(waiter)
    })
  }

  async waitForSent(count: number, timeoutMs = 15_000): Promise<ReadonlyArray<SentMessage>> {
    await this.waitFor((fake) => fake.sent.length >= count, timeoutMs).catch((e: Error) => {
      throw new Error(`FakeTelegram.waitForSent(${count}): ${e.message}`)
    })
    return this.sent
  }

  waitForEffect(predicate: (fake: FakeTelegramServer) => boolean, timeoutMs = 15_000): Effect.Effect<void, Error> {
    return Effect.tryPromise({ try: () => this.waitFor(predicate, timeoutMs), catch: (e) => e as Error })
  }

  waitForSentEffect(count: number, timeoutMs = 15_000): Effect.Effect<ReadonlyArray<SentMessage>, Error> {
    return Effect.tryPromise({ try: () => this.waitForSent(count, timeoutMs), catch: (e) => e as Error })
  }

  private summary(): string {
    const methods = this.calls.map((call) => call.method).join(",")
    return `${this.sent.length} sent, ${this.updates.length} pending updates, calls: ${methods || "none"}`
  }

  private notify(): void {
    const ready = this.waiters.filter((waiter) => waiter.check())
    if (ready.length === 0) return
    this.waiters = this.waiters.filter((waiter) => !ready.includes(waiter))
    for (const waiter of ready) {
      clearTimeout(waiter.timer)
      waiter.resolve()
    }
  }

  // -- HTTP -----------------------------------------------------------------------------------

  private async handle(req: Http.IncomingMessage, res: Http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1")
    const download = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname)
    if (download !== null) return this.serveFile(res, download[1]!, decodeURIComponent(download[2]!))
    const route = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname)
    let params: Record<string, unknown>
    try {
      params = parseParams(req, url, await readBody(req))
    } catch {
      return this.reply(res, undefined, badRequest("can't parse JSON"))
    }
    if (route === null) return this.reply(res, undefined, error(404, "Not Found"))
    const token = route[1]!
    const method = route[2]!
    const call: ApiCall = { method, params, at: this.now() }
    this.calls.push(call)
    this.notify()
    if (token !== this.token) return this.reply(res, call, error(401, "Unauthorized"))

    const key = method.toLowerCase()
    const fault = this.faults.get(key)?.shift()
    if (fault !== undefined) return this.replyFault(res, call, fault)
    const hangs = this.hangs.get(key) ?? 0
    if (hangs > 0) {
      this.hangs.set(key, hangs - 1)
      this.hung.add(res)
      return
    }
    const handler = this.handlers[key]
    if (handler === undefined) return this.reply(res, call, error(404, "Not Found"))
    this.reply(res, call, await handler(params, res))
  }

  /** Like the Bot API server: the bytes of a known path under the right token, else 404. */
  private serveFile(res: Http.ServerResponse, token: string, path: string): void {
    this.downloads.push(path)
    const file = token === this.token ? [...this.files.values()].find((f) => f.path === path) : undefined
    if (file === undefined || file.size > maxDownloadFileSize) {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify(error(404, "Not Found")))
    } else {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(file.bytes.length) })
        .end(Buffer.from(file.bytes))
    }
    this.notify()
  }

  private reply(res: Http.ServerResponse, call: ApiCall | undefined, answer: Answer): void {
    const status = answer.ok ? 200 : answer.error_code
    if (call !== undefined) call.status = status
    if (!res.destroyed) res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(answer))
    this.notify()
  }

  private replyFault(res: Http.ServerResponse, call: ApiCall, fault: Fault): void {
    if (fault.rawBody !== undefined) {
      call.status = fault.status
      res.writeHead(fault.status, { "content-type": "text/html" }).end(fault.rawBody)
      return this.notify()
    }
    const description = fault.description ??
      (fault.status === 429
        ? `Too Many Requests: retry after ${fault.retryAfter ?? 1}`
        : defaultDescriptions[fault.status] ?? `Error ${fault.status}`)
    const retryAfter = fault.retryAfter ?? (fault.status === 429 ? 1 : undefined)
    this.reply(res, call, error(fault.status, description, retryAfter))
  }

  // -- methods --------------------------------------------------------------------------------

  private readonly handlers: Record<string, Handler> = {
    getme: () => ok(this.botInfo),
    getfile: (params) => {
      if (typeof params.file_id !== "string" || params.file_id === "") return badRequest("file_id is empty")
      const file = this.files.get(params.file_id)
      if (file === undefined) return badRequest("invalid file_id")
      if (file.size > maxDownloadFileSize) return badRequest("file is too big")
      return ok({
        file_id: file.fileId,
        file_unique_id: `u-${file.fileId}`,
        file_size: file.size,
        file_path: file.path
      })
    },
    getupdates: (params, res) => this.getUpdates(params, res),
    sendmessage: (params) => this.sendMessage(params),
    editmessagetext: (params) => this.editMessageText(params),
    sendmessagedraft: (params) => this.sendMessageDraft(params),
    deletemessage: (params) => this.deleteMessage(params),
    sendchataction: (params) => {
      if (params.chat_id === undefined || params.chat_id === "") return badRequest("chat_id is empty")
      if (typeof params.action !== "string" || !chatActions.has(params.action)) {
        return badRequest("wrong parameter action in request")
      }
      return ok(true)
    },
    setmycommands: (params) => {
      const commands = Array.isArray(params.commands) ? (params.commands as Array<Partial<BotCommand>>) : undefined
      if (commands === undefined) return badRequest("parameter \"commands\" is required")
      if (commands.length > 100) return badRequest("BOT_COMMANDS_TOO_MUCH")
      for (const c of commands) {
        if (typeof c.command !== "string" || !/^[a-z0-9_]{1,32}$/.test(c.command)) {
          return badRequest("BOT_COMMAND_INVALID")
        }
        if (typeof c.description !== "string" || c.description.length < 1 || c.description.length > 256) {
          return badRequest("BOT_COMMAND_DESCRIPTION_INVALID")
        }
      }
      const stored = commands.map((c) => ({ command: c.command!, description: c.description! }))
      this.commands.set(this.commandsKey(params), stored)
      return ok(true)
    },
    getmycommands: (params) => ok(this.commands.get(this.commandsKey(params)) ?? []),
    deletemycommands: (params) => {
      this.commands.delete(this.commandsKey(params))
      return ok(true)
    },
    setwebhook: (params) => {
      const url = typeof params.url === "string" ? params.url : ""
      if (url === "") return this.deleteWebhook(params)
      let parsed: URL
      try {
        parsed = new URL(url)
      } catch {
        return badRequest("bad webhook: Failed to resolve host: Name or service not known")
      }
      if (parsed.protocol !== "https:") return badRequest("bad webhook: An HTTPS URL must be provided for webhook")
      if (!["", "80", "88", "443", "8443"].includes(parsed.port)) {
        return badRequest("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
      }
      const secret = typeof params.secret_token === "string" ? params.secret_token : undefined
      if (secret !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secret)) {
        return badRequest("secret token contains unallowed characters")
      }
      if (params.drop_pending_updates === true || params.drop_pending_updates === "true") this.updates = []
      this.webhook = { url, secret_token: secret, allowed_updates: stringList(params.allowed_updates) }
      if (this.poller !== undefined) this.answerPoller(error(409, webhookConflict))
      return ok(true)
    },
    deletewebhook: (params) => this.deleteWebhook(params),
    getwebhookinfo: () =>
      ok({
        url: this.webhook?.url ?? "",
        has_custom_certificate: false,
        pending_update_count: this.updates.length,
        ...(this.webhook?.allowed_updates !== undefined ? { allowed_updates: this.webhook.allowed_updates } : {})
      })
  }

  private commandsKey(params: Record<string, unknown>): string {
    const scope = params.scope as { type?: string } | undefined
    const scopeKey = scope === undefined || scope.type === "default" ? "default" : JSON.stringify(scope)
    return typeof params.language_code === "string" && params.language_code !== ""
      ? `${scopeKey}:${params.language_code}`
      : scopeKey
  }

  private deleteWebhook(params: Record<string, unknown>): Answer {
    if (params.drop_pending_updates === true || params.drop_pending_updates === "true") this.updates = []
    this.webhook = undefined
    return ok(true)
  }

  private getUpdates(params: Record<string, unknown>, res: Http.ServerResponse): Answer | Promise<Answer> {
    if (this.webhook !== undefined) return error(409, webhookConflict)
    const offset = int(params.offset)
    const limit = Math.min(100, Math.max(1, int(params.limit) ?? 100))
    const timeout = Math.max(0, int(params.timeout) ?? 0)
    const allowed = stringList(params.allowed_updates)
    if (allowed !== undefined) this.allowedUpdates = allowed.length > 0 ? allowed : undefined
    // Confirm: everything before `offset` is forgotten; a negative offset keeps the last -offset.
    if (offset !== undefined && offset < 0) this.updates = this.updates.slice(offset)
    else if (offset !== undefined) this.updates = this.updates.filter((u) => u.update_id >= offset)
    // A test may be waiting for the confirmation, which a long poll answers only later.
    if (offset !== undefined) this.notify()
    // A second poller terminates the first, as on the real server.
    if (this.poller !== undefined) this.answerPoller(error(409, pollConflict))
    const ready = this.deliverable(limit)
    if (ready.length > 0 || timeout === 0) return ok(ready)
    return new Promise<Answer>((resolve) => {
      const poller: Poller = {
        answer: resolve,
        limit,
        timer: setTimeout(() => {
          if (this.poller === poller) this.answerPoller(ok(this.deliverable(limit)))
        }, timeout * 1000)
      }
      this.poller = poller
      // A client that hangs up (abort, client timeout) stops polling.
      res.on("close", () => {
        if (this.poller === poller) {
          clearTimeout(poller.timer)
          this.poller = undefined
        }
      })
    })
  }

  private answerPoller(answer: Answer): void {
    const poller = this.poller
    if (poller === undefined) return
    this.poller = undefined
    clearTimeout(poller.timer)
    poller.answer(answer)
  }

  private wakePoller(): void {
    if (this.poller === undefined) return
    const ready = this.deliverable(this.poller.limit)
    if (ready.length > 0) this.answerPoller(ok(ready))
  }

  /** Pending updates the poller asked for; kinds it did not ask for are dropped, as Telegram does. */
  private deliverable(limit: number): Array<Update> {
    const allowed = this.allowedUpdates
    this.updates = this.updates.filter((u) => {
      const kind = updateKind(u)
      return allowed === undefined ? !optInUpdates.has(kind) : allowed.includes(kind)
    })
    return this.updates.slice(0, limit)
  }

  private nextMessageId(chatId: number | string): number {
    const id = (this.messageIds.get(String(chatId)) ?? 0) + 1
    this.messageIds.set(String(chatId), id)
    return id
  }

  /** The text as Telegram would store it, or the error answer. */
  private parseText(
    params: Record<string, unknown>,
    tooLong: string,
    allowEmpty = false
  ): { readonly visible: string; readonly parseMode: string | undefined } | Answer {
    const text = typeof params.text === "string" || typeof params.text === "number" ? String(params.text) : ""
    const parseMode = typeof params.parse_mode === "string" && params.parse_mode !== "" ? params.parse_mode : undefined
    if (parseMode !== undefined && !["HTML", "MarkdownV2", "Markdown"].includes(parseMode)) {
      return badRequest("unsupported parse_mode")
    }
    if (hasLoneSurrogate(text)) return badRequest("text must be encoded in UTF-8")
    let visible = text
    if (parseMode === "HTML") {
      const parsed = parseTelegramHtml(text, this.strictEntities)
      if (!parsed.ok) return badRequest(`can't parse entities: ${parsed.error}`)
      visible = parsed.text
    }
    // Markdown modes are not parsed here: their raw text is measured (never shorter than parsed).
    visible = visible.trim()
    if (visible.length === 0 && !allowEmpty) return badRequest("message text is empty")
    if (visible.length > messageLimit) return badRequest(tooLong)
    return { visible, parseMode }
  }

  private chatIdOf(params: Record<string, unknown>): number | string | Answer {
    const raw = params.chat_id
    if (raw === undefined || raw === null || raw === "") return badRequest("chat_id is empty")
    if (typeof raw === "string" && raw.startsWith("@")) return raw
    return int(raw) ?? badRequest("chat not found")
  }

  private floodCheck(chatId: number | string): Answer | undefined {
    const retryAfter = this.flood?.check(String(chatId), this.now())
    return retryAfter === undefined
      ? undefined
      : error(429, `Too Many Requests: retry after ${retryAfter}`, retryAfter)
  }

  private sendMessage(params: Record<string, unknown>): Answer {
    const chatId = this.chatIdOf(params)
    if (typeof chatId === "object") return chatId
    const parsed = this.parseText(params, "message is too long")
    if ("ok" in parsed) return parsed
    const limited = this.floodCheck(chatId)
    if (limited !== undefined) return limited

    const replyParameters = params.reply_parameters as Record<string, unknown> | undefined
    const replyTo = int(replyParameters?.message_id) ?? int(params.reply_to_message_id)
    const threadId = int(params.message_thread_id)
    const record: SentMessage = {
      message_id: this.nextMessageId(chatId),
      chat_id: chatId,
      text: String(params.text),
      parse_mode: parsed.parseMode,
      visibleText: parsed.visible,
      reply_to_message_id: replyTo,
      reply_parameters: replyParameters,
      message_thread_id: threadId,
      at: this.now(),
      edits: 0
    }
    this.sent.push(record)
    const replied = replyTo === undefined ? undefined : this.messages.get(`${chatId}:${replyTo}`)
    const message = {
      message_id: record.message_id,
      date: Math.floor(record.at / 1000),
      chat: typeof chatId === "number" && chatId > 0
        ? { id: chatId, type: "private", first_name: "User" }
        : { id: chatId, type: String(chatId).startsWith("-100") ? "supergroup" : "group", title: "Test group" },
      from: this.botInfo,
      text: parsed.visible,
      ...(threadId !== undefined ? { message_thread_id: threadId, is_topic_message: true } : {}),
      ...(replied !== undefined ? { reply_to_message: replied } : {})
    } as unknown as Message
    this.messages.set(`${chatId}:${record.message_id}`, message)
    this.notify()
    return ok(message)
  }

  /** Bot API 9.5: private chats only, a non-zero draft id, 0 to 4096 characters after parsing. */
  private sendMessageDraft(params: Record<string, unknown>): Answer {
    if (this.withoutDrafts) return error(404, "Not Found: method not found")
    const chatId = this.chatIdOf(params)
    if (typeof chatId === "object") return chatId
    if (typeof chatId !== "number" || chatId <= 0) return badRequest("draft messages can be sent only to private chats")
    const draftId = int(params.draft_id)
    if (draftId === undefined || draftId === 0) return badRequest("parameter \"draft_id\" must be non-zero")
    const parsed = this.parseText(params, "message is too long", true)
    if ("ok" in parsed) return parsed
    const limited = this.floodCheck(chatId)
    if (limited !== undefined) return limited
    this.drafts.push({
      chat_id: chatId,
      draft_id: draftId,
      text: typeof params.text === "string" ? params.text : "",
      parse_mode: parsed.parseMode,
      visibleText: parsed.visible,
      message_thread_id: int(params.message_thread_id),
      at: this.now()
    })
    this.notify()
    return ok(true)
  }

  private deleteMessage(params: Record<string, unknown>): Answer {
    const chatId = this.chatIdOf(params)
    if (typeof chatId === "object") return chatId
    const messageId = int(params.message_id)
    if (messageId === undefined) return badRequest("message identifier is not specified")
    const key = `${chatId}:${messageId}`
    if (!this.messages.has(key)) return badRequest("message to delete not found")
    this.messages.delete(key)
    this.deleted.push({ chat_id: chatId, message_id: messageId })
    this.notify()
    return ok(true)
  }

  private editMessageText(params: Record<string, unknown>): Answer {
    if (params.inline_message_id !== undefined) return badRequest("inline messages are not supported by the fake")
    const chatId = this.chatIdOf(params)
    if (typeof chatId === "object") return chatId
    const messageId = int(params.message_id)
    if (messageId === undefined) return badRequest("message identifier is not specified")
    const parsed = this.parseText(params, "MESSAGE_TOO_LONG")
    if ("ok" in parsed) return parsed
    const record = this.sent.find((m) => String(m.chat_id) === String(chatId) && m.message_id === messageId)
    const message = this.messages.get(`${chatId}:${messageId}`)
    if (record === undefined || message === undefined) return badRequest("message to edit not found")
    if (record.text === String(params.text) && record.parse_mode === parsed.parseMode) {
      return badRequest(
        "message is not modified: specified new message content and reply markup are exactly the same " +
          "as a current content and reply markup of the message"
      )
    }
    const limited = this.floodCheck(chatId)
    if (limited !== undefined) return limited
    record.text = String(params.text)
    record.parse_mode = parsed.parseMode
    record.visibleText = parsed.visible
    record.edits++
    const edited = { ...message, text: parsed.visible, edit_date: Math.floor(this.now() / 1000) } as Message
    this.messages.set(`${chatId}:${messageId}`, edited)
    this.notify()
    return ok(edited)
  }
}
