/**
 * A scripted OpenAI-compatible server on loopback: `POST /v1/chat/completions` (plain JSON, and
 * SSE when `stream: true`), validating requests the way OpenAI does, so a test catches what the
 * real API would refuse (a `tool` message without its assistant `tool_calls`, an unanswered tool
 * call, a wrong key).
 *
 * Replies come from, in order: the FIFO of `enqueue(...)`, then the `script(handler)`, then the
 * default echo (`"echo: <last user content>"`). Every request is recorded in `requests`, with
 * its server-side handling time so a benchmark can subtract the "LLM" time.
 */
import { Context, Effect, Layer } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

// ---------------------------------------------------------------------------------------------
// Types

/** The parts of a chat completion request the fake looks at (the whole body is kept). */
export interface FakeChatRequest {
  readonly model: string
  readonly messages: ReadonlyArray<FakeMessage>
  readonly tools?: ReadonlyArray<
    { type: string; function: { name: string; description?: string; parameters?: unknown } }
  >
  readonly stream?: boolean
  readonly stream_options?: { include_usage?: boolean }
  readonly max_tokens?: number
  readonly max_completion_tokens?: number
  readonly temperature?: number
  readonly [key: string]: unknown
}

export interface FakeMessage {
  readonly role: string
  readonly content?: unknown
  readonly tool_calls?: ReadonlyArray<{ id: string; type: string; function: { name: string; arguments: string } }>
  readonly tool_call_id?: string
  readonly [key: string]: unknown
}

export interface FakeToolCall {
  /** Defaults to `call_<n>`. */
  readonly id?: string
  readonly name: string
  /** JSON text, or an object (stringified). */
  readonly arguments: string | Record<string, unknown>
}

/**
 * What the fake should answer. `delayMs` (before answering) combines with any of them;
 * `tokenDelayMs` spaces the chunks of a streamed answer (`stream: true`).
 */
export type FakeReply =
  | {
    readonly content: string
    readonly finishReason?: string
    readonly delayMs?: number
    readonly tokenDelayMs?: number
  }
  | {
    readonly toolCalls: ReadonlyArray<FakeToolCall>
    readonly content?: string | null
    readonly delayMs?: number
    readonly tokenDelayMs?: number
  }
  | {
    readonly status: number
    /** `retry-after` header, in seconds (fractions are sent as they are). */
    readonly retryAfter?: number
    /** `retry-after-ms` header. */
    readonly retryAfterMs?: number
    readonly message?: string
    readonly delayMs?: number
  }
  /** Never answers; the connection stays open until the client gives up or the fake closes. */
  | { readonly hang: true }
  /** Waits, then answers with the echo. */
  | { readonly delayMs: number }
  /** Answers 200 with this raw body (to test unreadable responses). */
  | { readonly raw: string; readonly contentType?: string; readonly delayMs?: number }

export interface FakeRequestContext {
  /** 0-based index of this request in `requests`. */
  readonly index: number
  readonly headers: http.IncomingHttpHeaders
}

export type FakeHandler = (request: FakeChatRequest, context: FakeRequestContext) => FakeReply | Promise<FakeReply>

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly headers: http.IncomingHttpHeaders
  /** The parsed JSON body (`undefined` when it was not JSON). */
  readonly body: FakeChatRequest
  readonly receivedAt: number
  /** Status sent, once answered. */
  status?: number
  /** Milliseconds from receiving the request to the end of the response (latency included). */
  handledMs?: number
  /** The client closed the connection before the answer was complete (abort, timeout). */
  aborted: boolean
  /** When a streamed answer's first content chunk was written (ms, as `Date.now()`). */
  firstTokenAt?: number
}

/** One `/v1/audio/transcriptions` request, as the fake parsed its multipart form. */
export interface FakeTranscription {
  readonly model: string
  readonly language: string | undefined
  readonly fileName: string
  readonly mimeType: string
  readonly bytes: Uint8Array
}

/** Formats OpenAI's transcription endpoint accepts (by file name extension). */
const audioFormats = ["flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "ogg", "wav", "webm"]

export interface FakeLlmOptions {
  /** The model cannot see images: a request with image parts gets OpenAI's 400. */
  readonly noVision?: boolean
  /** When set, requests must carry `Authorization: Bearer <expectedApiKey>` (else 401). */
  readonly expectedApiKey?: string
  /** Fixed latency added before every answer (benchmarks). */
  readonly latencyMs?: number
  /** Delay between the chunks of every streamed answer, unless a reply sets its own `tokenDelayMs`. */
  readonly tokenDelayMs?: number
  /** Called as each request's answer is finished (its `status` and `handledMs` set). */
  readonly onHandled?: (request: RecordedRequest) => void
  /** Defaults to 0 (any free port). */
  readonly port?: number
  readonly host?: string
}

export interface FakeLlmServer {
  /** Every transcription request, in order. The default transcript is the audio's bytes read as UTF-8. */
  readonly transcriptions: Array<FakeTranscription>
  /** Base URL for `llm.base_url`, e.g. `http://127.0.0.1:41234/v1`. */
  readonly url: string
  readonly port: number
  /** Every request, in arrival order (cleared by `reset`). */
  readonly requests: Array<RecordedRequest>
  /** Chat completion requests only, bodies parsed. */
  readonly completions: () => ReadonlyArray<RecordedRequest>
  /** Replaces the fallback handler (the default echoes). */
  readonly script: (handler: FakeHandler) => void
  /** One-shot replies, used first-in first-out before the handler. */
  readonly enqueue: (...replies: ReadonlyArray<FakeReply>) => void
  readonly setLatency: (ms: number) => void
  /** Forgets requests, queue and script; keeps the latency and the expected key. */
  readonly reset: () => void
  /** Resolves when `predicate` holds (polled every 5 ms), rejects after `timeoutMs`. */
  readonly waitFor: (predicate: (fake: FakeLlmServer) => boolean, timeoutMs?: number) => Promise<void>
  readonly close: () => Promise<void>
}

// ---------------------------------------------------------------------------------------------
// Replies

/** The default reply: echo the last user message. */
export const echo: FakeHandler = (request) => ({ content: `echo: ${lastUserContent(request)}` })

export const lastUserContent = (request: FakeChatRequest): string => {
  const last = [...request.messages].reverse().find((m) => m.role === "user")
  return last === undefined ? "" : contentText(last.content)
}

const contentText = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
    ? content.map((part) => (typeof part?.text === "string" ? part.text : "")).join("")
    : ""

const errorBody = (message: string, type: string, param: string | null = null, code: string | null = null) => ({
  error: { message, type, param, code }
})

const errorTypeFor = (status: number): { type: string; code: string | null } =>
  status === 429
    ? { type: "requests", code: "rate_limit_exceeded" }
    : status === 401
    ? { type: "invalid_request_error", code: "invalid_api_key" }
    : status >= 500
    ? { type: "server_error", code: null }
    : { type: "invalid_request_error", code: null }

/** Rough token count, enough for a plausible `usage`. */
const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4))

// ---------------------------------------------------------------------------------------------
// Validation (what OpenAI refuses with a 400)

const validRoles = new Set(["system", "developer", "user", "assistant", "tool", "function"])

type Invalid = { readonly message: string; readonly param: string | null }

export const validateRequest = (body: unknown): Invalid | undefined => {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { message: "The request body must be a JSON object.", param: null }
  }
  const request = body as Record<string, unknown>
  if (typeof request.model !== "string" || request.model.length === 0) {
    return { message: "you must provide a model parameter", param: "model" }
  }
  const messages = request.messages
  if (!Array.isArray(messages) || messages.length === 0) {
    return { message: "Invalid 'messages': empty array. Expected an array with minimum length 1.", param: "messages" }
  }
  for (const [i, raw] of messages.entries()) {
    const message = raw as Record<string, unknown> | null
    if (typeof message !== "object" || message === null) {
      return { message: `Invalid type for 'messages[${i}]': expected an object.`, param: `messages.[${i}]` }
    }
    const role = message.role
    if (typeof role !== "string" || !validRoles.has(role)) {
      return {
        message: `Invalid value: '${
          String(role)
        }'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`,
        param: `messages.[${i}].role`
      }
    }
    const content = message.content
    const toolCalls = message.tool_calls
    if (role === "assistant") {
      const hasToolCalls = Array.isArray(toolCalls) && toolCalls.length > 0
      if (toolCalls !== undefined && !Array.isArray(toolCalls)) {
        return {
          message: `Invalid type for 'messages[${i}].tool_calls': expected an array.`,
          param: `messages.[${i}].tool_calls`
        }
      }
      if (Array.isArray(toolCalls) && toolCalls.length === 0) {
        return {
          message:
            `Invalid 'messages[${i}].tool_calls': empty array. Expected an array with minimum length 1, but got an empty array instead.`,
          param: `messages.[${i}].tool_calls`
        }
      }
      if ((content === undefined || content === null) && !hasToolCalls) {
        return {
          message: `Invalid value for 'content': expected a string, got null.`,
          param: `messages.[${i}].content`
        }
      }
      if (hasToolCalls) {
        for (const [j, call] of (toolCalls as Array<Record<string, any>>).entries()) {
          if (
            typeof call?.id !== "string" || call.type !== "function" || typeof call.function?.name !== "string" ||
            typeof call.function?.arguments !== "string"
          ) {
            return {
              message:
                `Invalid 'messages[${i}].tool_calls[${j}]': expected { id, type: 'function', function: { name, arguments: string } }.`,
              param: `messages.[${i}].tool_calls.[${j}]`
            }
          }
        }
        // Every tool call must be answered by the tool messages right after it.
        const answered = new Set<string>()
        for (let k = i + 1; k < messages.length && (messages[k] as { role?: unknown })?.role === "tool"; k++) {
          answered.add(String((messages[k] as { tool_call_id?: unknown }).tool_call_id))
        }
        const missing = (toolCalls as Array<{ id: string }>).filter((call) => !answered.has(call.id)).map((c) => c.id)
        if (missing.length > 0) {
          return {
            message: "An assistant message with 'tool_calls' must be followed by tool messages responding to each " +
              `'tool_call_id'. The following tool_call_ids did not have response messages: ${missing.join(", ")}`,
            param: `messages.[${i}].role`
          }
        }
      }
    } else if (role === "tool") {
      if (typeof message.tool_call_id !== "string") {
        return {
          message: `Missing required parameter: 'messages[${i}].tool_call_id'.`,
          param: `messages.[${i}].tool_call_id`
        }
      }
      let k = i - 1
      while (k >= 0 && (messages[k] as { role?: unknown }).role === "tool") k--
      const previous = k >= 0 ? (messages[k] as FakeMessage) : undefined
      const ids = previous?.role === "assistant" ? (previous.tool_calls ?? []).map((c) => c.id) : undefined
      if (ids === undefined || ids.length === 0) {
        return {
          message:
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          param: `messages.[${i}].role`
        }
      }
      if (!ids.includes(message.tool_call_id)) {
        return {
          message:
            `Invalid parameter: 'tool_call_id' of '${message.tool_call_id}' not found in 'tool_calls' of previous message.`,
          param: `messages.[${i}].tool_call_id`
        }
      }
    }
    if (role === "user" && Array.isArray(content)) {
      const invalidPart = validateContentParts(content, i)
      if (invalidPart !== undefined) return invalidPart
    }
    if (role !== "assistant" && typeof content !== "string" && !Array.isArray(content)) {
      return {
        message: `Invalid type for 'messages[${i}].content': expected a string or an array.`,
        param: `messages.[${i}].content`
      }
    }
  }
  const tools = request.tools
  if (tools !== undefined) {
    if (!Array.isArray(tools)) return { message: "Invalid type for 'tools': expected an array.", param: "tools" }
    for (const [i, tool] of (tools as Array<Record<string, any>>).entries()) {
      if (
        tool?.type !== "function" || typeof tool.function?.name !== "string" ||
        !/^[a-zA-Z0-9_-]{1,64}$/.test(tool.function.name)
      ) {
        return {
          message:
            `Invalid 'tools[${i}]': expected { type: 'function', function: { name matching ^[a-zA-Z0-9_-]{1,64}$ } }.`,
          param: `tools.[${i}]`
        }
      }
    }
  }
  return undefined
}

/**
 * Content parts of a user message: `text`, or `image_url` whose url is a base64 data URL of an
 * image. Stricter than OpenAI, which also fetches http(s) URLs: minibot must never send one (a
 * Telegram file URL carries the bot token).
 */
const validateContentParts = (parts: ReadonlyArray<unknown>, i: number): Invalid | undefined => {
  for (const [j, raw] of parts.entries()) {
    const part = raw as { type?: unknown; text?: unknown; image_url?: { url?: unknown } } | null
    const param = `messages.[${i}].content.[${j}]`
    if (part?.type === "text" && typeof part.text === "string") continue
    if (part?.type === "image_url") {
      const url = part.image_url?.url
      if (typeof url !== "string") return { message: `Missing required parameter: '${param}.image_url.url'.`, param }
      const data = /^data:image\/(jpeg|png|gif|webp);base64,([A-Za-z0-9+/]+={0,2})$/.exec(url)
      if (data === null) {
        return { message: `Invalid image URL in '${param}': the fake accepts base64 data URLs only.`, param }
      }
      continue
    }
    return { message: `Invalid content part '${param}': expected type 'text' or 'image_url'.`, param }
  }
  return undefined
}

/** The images of a request, decoded from their data URLs (for tests that compare bytes). */
export const imagesOf = (request: FakeChatRequest): Array<{ mime: string; bytes: Buffer }> =>
  request.messages.flatMap((message) =>
    Array.isArray(message.content)
      ? (message.content as Array<{ type?: string; image_url?: { url?: string } }>).flatMap((part) => {
        const data = part.type === "image_url" ? /^data:([^;]+);base64,(.*)$/.exec(part.image_url?.url ?? "") : null
        return data === null ? [] : [{ mime: data[1]!, bytes: Buffer.from(data[2]!, "base64") }]
      })
      : []
  )

const hasImages = (request: FakeChatRequest) => imagesOf(request).length > 0

// ---------------------------------------------------------------------------------------------
// The server

const completionsPath = "/v1/chat/completions"
const transcriptionsPath = "/v1/audio/transcriptions"

/** Starts the fake; `close()` stops it (and drops hanging connections). */
export const startFakeLlm = async (options: FakeLlmOptions = {}): Promise<FakeLlmServer> => {
  const requests: Array<RecordedRequest> = []
  const transcriptions: Array<FakeTranscription> = []
  const queue: Array<FakeReply> = []
  let handler: FakeHandler = echo
  let latencyMs = options.latencyMs ?? 0
  let nextId = 0
  const hanging = new Set<http.ServerResponse>()

  const sendJson = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.destroyed) return
    res.writeHead(status, { "content-type": "application/json", ...headers })
    res.end(JSON.stringify(body))
  }

  const sleep = (ms: number, res: http.ServerResponse) =>
    new Promise<void>((resolve) => {
      if (ms <= 0) return resolve()
      const closed = () => {
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        res.off("close", closed)
        resolve()
      }, ms)
      res.once("close", closed)
    })

  const completionBody = (request: FakeChatRequest, reply: FakeReply) => {
    const id = `chatcmpl-fake-${++nextId}`
    // Like a real server, the tool definitions count as prompt tokens too.
    const prompt = request.messages.reduce((n, m) => n + tokens(contentText(m.content)), 0) +
      (request.tools === undefined ? 0 : tokens(JSON.stringify(request.tools)))
    if ("toolCalls" in reply) {
      const toolCalls = reply.toolCalls.map((call, i) => ({
        id: call.id ?? `call_${nextId}_${i}`,
        type: "function" as const,
        function: {
          name: call.name,
          arguments: typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments)
        }
      }))
      const content = reply.content ?? null
      return {
        id,
        content,
        toolCalls,
        finishReason: "tool_calls",
        usage: { prompt_tokens: prompt, completion_tokens: 10, total_tokens: prompt + 10 }
      }
    }
    const text = "content" in reply ? reply.content : `echo: ${lastUserContent(request)}`
    const completion = tokens(text)
    return {
      id,
      content: text,
      toolCalls: [] as Array<{ id: string; type: "function"; function: { name: string; arguments: string } }>,
      finishReason: "content" in reply && reply.finishReason !== undefined ? reply.finishReason : "stop",
      usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
    }
  }

  const answer = (
    res: http.ServerResponse,
    record: RecordedRequest,
    reply: FakeReply
  ): Promise<void> | void => {
    const request = record.body
    if ("raw" in reply) {
      res.writeHead(200, { "content-type": reply.contentType ?? "application/json" })
      res.end(reply.raw)
      return
    }
    if ("status" in reply) {
      const headers: Record<string, string> = {}
      if (reply.retryAfter !== undefined) headers["retry-after"] = String(reply.retryAfter)
      if (reply.retryAfterMs !== undefined) headers["retry-after-ms"] = String(reply.retryAfterMs)
      const { type, code } = errorTypeFor(reply.status)
      const message = reply.message ??
        (reply.status === 429 ? "Rate limit reached (fake)." : `Scripted error ${reply.status} (fake).`)
      sendJson(res, reply.status, errorBody(message, type, null, code), headers)
      return
    }
    const built = completionBody(request, reply)
    const created = Math.floor(Date.now() / 1000)
    if (request.stream === true) {
      const tokenDelay = "tokenDelayMs" in reply ? reply.tokenDelayMs : undefined
      return streamAnswer(res, request, built, created, tokenDelay ?? options.tokenDelayMs ?? 0, record)
    }
    sendJson(res, 200, {
      id: built.id,
      object: "chat.completion",
      created,
      model: request.model,
      choices: [{
        index: 0,
        message: {
          role: "assistant",
          content: built.content,
          refusal: null,
          ...(built.toolCalls.length > 0 ? { tool_calls: built.toolCalls } : {})
        },
        logprobs: null,
        finish_reason: built.finishReason
      }],
      usage: built.usage,
      system_fingerprint: "fp_fake"
    })
  }

  /** SSE as OpenAI sends it: a role chunk, content by words, tool calls by index, the finish, usage, [DONE]. */
  const streamAnswer = async (
    res: http.ServerResponse,
    request: FakeChatRequest,
    built: ReturnType<typeof completionBody>,
    created: number,
    tokenDelayMs: number,
    record: RecordedRequest
  ) => {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" })
    const chunk = (delta: unknown, finishReason: string | null = null, extra: Record<string, unknown> = {}) =>
      res.write(
        `data: ${
          JSON.stringify({
            id: built.id,
            object: "chat.completion.chunk",
            created,
            model: request.model,
            choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
            ...extra
          })
        }\n\n`
      )
    // Between tokens; false once the client hung up (an aborted request streams no further).
    const pause = async () => {
      if (tokenDelayMs > 0) await sleep(tokenDelayMs, res)
      return !res.destroyed
    }
    chunk({ role: "assistant", content: "" })
    if (built.content !== null && built.content.length > 0) {
      for (const piece of built.content.match(/\S+\s*|\s+/g) ?? []) {
        if (!(await pause())) return
        record.firstTokenAt ??= Date.now()
        chunk({ content: piece })
      }
    }
    for (const [index, call] of built.toolCalls.entries()) {
      if (!(await pause())) return
      chunk({
        tool_calls: [{ index, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } }]
      })
      // The arguments arrive in two pieces, as a real server splits them.
      const half = Math.ceil(call.function.arguments.length / 2)
      for (const piece of [call.function.arguments.slice(0, half), call.function.arguments.slice(half)]) {
        if (!(await pause())) return
        chunk({ tool_calls: [{ index, function: { arguments: piece } }] })
      }
    }
    chunk({}, built.finishReason)
    if (request.stream_options?.include_usage === true) {
      res.write(
        `data: ${
          JSON.stringify({
            id: built.id,
            object: "chat.completion.chunk",
            created,
            model: request.model,
            choices: [],
            usage: built.usage
          })
        }\n\n`
      )
    }
    res.end("data: [DONE]\n\n")
  }

  /** `POST /v1/audio/transcriptions`: a multipart form with `file` and `model`, as OpenAI validates it. */
  const transcribe = async (req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer) => {
    let form: FormData
    try {
      form = await new Response(new Uint8Array(raw), {
        headers: { "content-type": req.headers["content-type"] ?? "" }
      }).formData()
    } catch {
      return sendJson(res, 400, errorBody("Could not parse multipart form", "invalid_request_error"))
    }
    const model = form.get("model")
    const file = form.get("file")
    if (typeof model !== "string" || model === "") {
      return sendJson(res, 400, errorBody("you must provide a model parameter", "invalid_request_error", "model"))
    }
    if (file === null || typeof file === "string") {
      return sendJson(res, 400, errorBody("Missing required parameter: 'file'.", "invalid_request_error", "file"))
    }
    const extension = file.name.split(".").pop()?.toLowerCase() ?? ""
    if (!audioFormats.includes(extension)) {
      return sendJson(
        res,
        400,
        errorBody(`Invalid file format. Supported formats: ${JSON.stringify(audioFormats)}`, "invalid_request_error")
      )
    }
    const bytes = new Uint8Array(await file.arrayBuffer())
    const language = form.get("language")
    transcriptions.push({
      model,
      language: typeof language === "string" ? language : undefined,
      fileName: file.name,
      mimeType: file.type,
      bytes
    })
    sendJson(res, 200, { text: Buffer.from(bytes).toString("utf8") })
  }

  const handle = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    record: RecordedRequest,
    raw: Buffer
  ) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/"
    if (req.method === "GET" && path === "/v1/models") {
      return sendJson(res, 200, {
        object: "list",
        data: [{ id: "fake-model", object: "model", created: 0, owned_by: "fake" }]
      })
    }
    if (req.method !== "POST" || (path !== completionsPath && path !== transcriptionsPath)) {
      return sendJson(res, 404, errorBody(`Invalid URL (${req.method} ${path})`, "invalid_request_error"))
    }
    if (options.expectedApiKey !== undefined) {
      const auth = req.headers.authorization ?? ""
      if (auth !== `Bearer ${options.expectedApiKey}`) {
        // Deliberately harsher than OpenAI (which masks most of it): echo the whole key we were
        // given, so a test proves the client never repeats a server's message verbatim.
        const given = auth.replace(/^Bearer\s+/i, "")
        return sendJson(
          res,
          401,
          errorBody(
            `Incorrect API key provided: ${given}. You can find your API key at https://platform.openai.com/account/api-keys.`,
            "invalid_request_error",
            null,
            "invalid_api_key"
          )
        )
      }
    }
    if (path === transcriptionsPath) return transcribe(req, res, raw)
    if (record.body === undefined) {
      return sendJson(res, 400, errorBody("We could not parse the JSON body of your request.", "invalid_request_error"))
    }
    const invalid = validateRequest(record.body)
    if (invalid !== undefined) {
      return sendJson(res, 400, errorBody(invalid.message, "invalid_request_error", invalid.param, null))
    }
    if (options.noVision === true && hasImages(record.body)) {
      return sendJson(
        res,
        400,
        errorBody(
          "Invalid content type. image_url is only supported by certain models.",
          "invalid_request_error",
          "messages",
          null
        )
      )
    }
    const index = requests.indexOf(record)
    const reply = queue.length > 0 ? queue.shift()! : await handler(record.body, { index, headers: req.headers })
    if ("hang" in reply) {
      hanging.add(res)
      res.once("close", () => hanging.delete(res))
      return
    }
    await sleep(latencyMs + (reply.delayMs ?? 0), res)
    if (res.destroyed) return
    await answer(res, record, reply)
  }

  const server = http.createServer((req, res) => {
    const started = performance.now()
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      let body: FakeChatRequest | undefined
      const raw = Buffer.concat(chunks)
      try {
        body = JSON.parse(raw.toString("utf8")) as FakeChatRequest
      } catch {
        body = undefined
      }
      const record: RecordedRequest = {
        method: req.method ?? "",
        path: (req.url ?? "/").split("?")[0] ?? "/",
        headers: req.headers,
        body: body as FakeChatRequest,
        receivedAt: Date.now(),
        aborted: false
      }
      requests.push(record)
      res.once("close", () => {
        if (!res.writableFinished) record.aborted = true
      })
      res.once("finish", () => {
        record.status = res.statusCode
        record.handledMs = performance.now() - started
        options.onHandled?.(record)
      })
      handle(req, res, record, raw).catch((error: unknown) => {
        sendJson(res, 500, errorBody(`fake handler failed: ${String(error)}`, "server_error"))
      })
    })
  })
  server.keepAliveTimeout = 5_000

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = options.host ?? "127.0.0.1"

  const fake: FakeLlmServer = {
    url: `http://${host}:${address.port}/v1`,
    port: address.port,
    requests,
    transcriptions,
    completions: () => requests.filter((r) => r.path === completionsPath && r.method === "POST"),
    script: (h) => {
      handler = h
    },
    enqueue: (...replies) => {
      queue.push(...replies)
    },
    setLatency: (ms) => {
      latencyMs = ms
    },
    reset: () => {
      requests.length = 0
      transcriptions.length = 0
      queue.length = 0
      handler = echo
    },
    waitFor: (predicate, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const deadline = Date.now() + timeoutMs
        const poll = () => {
          if (predicate(fake)) return resolve()
          if (Date.now() > deadline) {
            return reject(new Error(`FakeLlm.waitFor: condition not met within ${timeoutMs} ms`))
          }
          setTimeout(poll, 5)
        }
        poll()
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy()
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
  return fake
}

/** The fake as a service: `FakeLlm.make(options)` in a scope, or `FakeLlm.layer(options)`. */
export class FakeLlm extends Context.Tag("test/FakeLlm")<FakeLlm, FakeLlmServer>() {
  static make(options: FakeLlmOptions = {}) {
    return Effect.acquireRelease(
      Effect.promise(() => startFakeLlm(options)),
      (fake) => Effect.promise(() => fake.close())
    )
  }

  static layer(options: FakeLlmOptions = {}): Layer.Layer<FakeLlm> {
    return Layer.scoped(FakeLlm, FakeLlm.make(options))
  }
}

/** The `[llm]` section pointing at a fake, for `makeConfig({ llm: fakeLlmSection(fake) })`. */
export const fakeLlmSection = (fake: FakeLlmServer, overrides: Record<string, unknown> = {}) => ({
  base_url: fake.url,
  model: "fake-model",
  request_timeout_seconds: 5,
  retry_attempts: 2,
  ...overrides
})
