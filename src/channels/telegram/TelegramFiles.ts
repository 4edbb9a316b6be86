/**
 * Files people send: `getFile` says where the file is, then its bytes are downloaded from
 * `<api_root>/file/bot<token>/<file_path>`. Each step has its own timeout and a few retries on
 * network errors and 5xx; a file over the Bot API's 20 MB limit ("file is too big") or over the
 * caller's cap is `too_big`, anything else that fails is `unavailable`. The token is in the
 * download URL only: errors carry Telegram's description, never the URL.
 */
import { Duration, Effect, Schedule } from "effect"
import { LlmSettings } from "../../config/Config.ts"
import { type FetchedFile, FileFetchError } from "../Outbound.ts"
import { isAmbiguous, TelegramApi, type TelegramError } from "./TelegramApi.ts"
import { TelegramTimings, type TelegramTimingsShape } from "./TelegramTimings.ts"

/** The public Bot API serves files up to this size (`MAX_DOWNLOAD_FILE_SIZE`). */
export const botApiDownloadLimit = 20 * 1024 * 1024

/** Network errors, timeouts and 5xx may pass: two retries, backing off from `retryBase`. */
const fileRetry = (timings: TelegramTimingsShape) =>
  Schedule.exponential(timings.retryBase, 2).pipe(
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(2))
  )

const isTooBig = (e: TelegramError) => e.code === 400 && /too big/i.test(e.description)

export class TelegramFiles extends Effect.Service<TelegramFiles>()("minibot/TelegramFiles", {
  effect: Effect.gen(function*() {
    const api = yield* TelegramApi
    const llm = yield* LlmSettings
    const retry = fileRetry(yield* TelegramTimings)
    const timeout = Duration.seconds(llm.media.download_timeout_seconds)

    const attempt = <A>(what: string, effect: Effect.Effect<A, TelegramError>) =>
      effect.pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new FileFetchError({
              reason: "unavailable",
              detail: `${what}: no answer within ${Duration.format(timeout)}`
            })
        }),
        Effect.retry({
          schedule: retry,
          while: (e) => e._tag === "FileFetchError" || isAmbiguous(e)
        }),
        Effect.mapError((e) =>
          e._tag === "FileFetchError" ? e : new FileFetchError({
            reason: isTooBig(e) ? "too_big" : e.code === 413 ? "over_limit" : "unavailable",
            detail: `${what} failed (${e.code ?? e.kind}): ${e.description}`
          })
        )
      )

    const fetchFile = (fileId: string, maxBytes: number): Effect.Effect<FetchedFile, FileFetchError> =>
      Effect.gen(function*() {
        const file = yield* attempt("getFile", api.getFile(fileId))
        if (file.file_path === undefined) {
          return yield* new FileFetchError({ reason: "unavailable", detail: "getFile gave no file_path" })
        }
        if (file.file_size !== undefined && file.file_size > maxBytes) {
          return yield* new FileFetchError({ reason: "over_limit", detail: `${file.file_size} bytes` })
        }
        const bytes = yield* attempt("download", api.download(file.file_path, maxBytes))
        return { bytes, path: file.file_path }
      }).pipe(Effect.annotateLogs({ component: "telegram" }))

    return { fetchFile } as const
  })
}) {}
