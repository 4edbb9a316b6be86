/**
 * Speech to text through an OpenAI-compatible `POST <base_url>/audio/transcriptions` (multipart:
 * `file`, `model`, `language`), as `[llm.transcription]` says; its `base_url` and `api_key` fall
 * back to `[llm]`'s. Each attempt has a timeout and is cancelled through its abort signal;
 * timeouts, 429, 5xx and network errors are retried with backoff. Errors never carry the key.
 */
import { Data, Duration, Effect, Option, Redacted, Schedule } from "effect"
import { LlmSettings } from "../config/Config.ts"

export class TranscriptionError extends Data.TaggedError("TranscriptionError")<{
  /** `not_configured`: no `[llm.transcription] model`. */
  readonly reason: "not_configured" | "failed"
  readonly detail: string
}> {
  override get message() {
    return `transcription ${this.reason}: ${this.detail}`
  }
}

class AttemptFailed extends Data.TaggedError("AttemptFailed")<{ readonly detail: string; readonly retry: boolean }> {}

const transcriptionRetry = Schedule.exponential(Duration.millis(500), 2).pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(2))
)

/** Longest transcript error body kept for the log. */
const maxDetail = 300

export class Transcriber extends Effect.Service<Transcriber>()("minibot/Transcriber", {
  effect: Effect.gen(function*() {
    const llm = yield* LlmSettings
    const config = llm.transcription
    const baseUrl = (config.base_url ?? llm.base_url).replace(/\/+$/, "")
    const apiKey = Option.fromNullable(config.api_key ?? llm.api_key).pipe(Option.map(Redacted.value))
    const scrub = (text: string) =>
      Option.match(apiKey, { onNone: () => text, onSome: (key) => text.split(key).join("<redacted>") })
    const timeout = Duration.seconds(config.request_timeout_seconds)

    const attempt = (audio: Uint8Array, fileName: string, mimeType: string, model: string) =>
      Effect.tryPromise({
        try: async (signal) => {
          const form = new FormData()
          form.append("file", new Blob([new Uint8Array(audio)], { type: mimeType }), fileName)
          form.append("model", model)
          if (config.language !== undefined) form.append("language", config.language)
          form.append("response_format", "json")
          const response = await fetch(`${baseUrl}/audio/transcriptions`, {
            method: "POST",
            body: form,
            signal,
            headers: Option.match(apiKey, {
              onNone: () => ({}),
              onSome: (key): Record<string, string> => ({ authorization: `Bearer ${key}` })
            })
          })
          const body = await response.text()
          if (!response.ok) {
            throw new AttemptFailed({
              detail: `HTTP ${response.status}: ${scrub(body.slice(0, maxDetail))}`,
              retry: response.status === 429 || response.status >= 500
            })
          }
          const text = (JSON.parse(body) as { text?: unknown }).text
          if (typeof text !== "string") throw new AttemptFailed({ detail: "the answer has no text", retry: false })
          return text.trim()
        },
        catch: (error) =>
          error instanceof AttemptFailed ? error : new AttemptFailed({
            detail: scrub(error instanceof Error ? error.message : String(error)),
            retry: !(error instanceof SyntaxError)
          })
      }).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new AttemptFailed({ detail: `no answer within ${Duration.format(timeout)}`, retry: true })
        })
      )

    /** The text spoken in `audio`. */
    const transcribe = Effect.fn("Transcriber.transcribe")(
      function*(audio: Uint8Array, fileName: string, mimeType: string) {
        if (config.model === undefined) {
          return yield* new TranscriptionError({
            reason: "not_configured",
            detail: "[llm.transcription] model is not set"
          })
        }
        const model = config.model
        return yield* attempt(audio, fileName, mimeType, model).pipe(
          Effect.tapError((e) =>
            e.retry
              ? Effect.logWarning("transcription failed; retrying").pipe(Effect.annotateLogs("detail", e.detail))
              : Effect.void
          ),
          Effect.retry({ schedule: transcriptionRetry, while: (e) => e.retry }),
          Effect.mapError((e) => new TranscriptionError({ reason: "failed", detail: e.detail }))
        )
      },
      Effect.annotateLogs({ component: "transcription" })
    )

    return { transcribe } as const
  })
}) {}
