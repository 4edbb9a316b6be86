/**
 * `web_fetch`: fetches the job's URL through `SafeFetch` with the `[tools.http_client]` guards
 * (public addresses only unless allowed, byte cap, redirect limit, timeout), then has the model
 * summarise the page as a scheduled turn of the conversation. With `[tools.http_client]` off,
 * nothing is fetched: the switch covers every outbound request a model can cause.
 */
import { Duration, Effect, Either } from "effect"
import { ConversationTurn } from "../../runtime/ConversationTurn.ts"
import { describeResponse, htmlLimits } from "../../tools/builtin/HttpRequestTool.ts"
import * as SafeFetch from "../../tools/net/SafeFetch.ts"
import { ToolsSettings } from "../../tools/ToolsConfig.ts"
import { failed, type TaskStrategy } from "../TaskStrategy.ts"
import { runTurn } from "./LlmPrompt.ts"

/** Characters of page text handed to the model for the summary. */
const maxSummaryInput = 20_000

export const make = Effect.gen(function*() {
  const turn = yield* ConversationTurn
  const { tools } = yield* ToolsSettings
  const config = tools.http_client
  const client = SafeFetch.make({
    allowPrivateNetworks: config.allow_private_networks,
    timeout: Duration.seconds(config.timeout_seconds),
    maxBytes: config.max_bytes,
    maxRedirects: config.max_redirects,
    userAgent: config.user_agent
  })
  return {
    name: "web_fetch",
    run: (run) =>
      Effect.gen(function*() {
        const url = run.job.payload
        if (!config.enabled) {
          return failed(`fetching ${url} is off: web_fetch needs [tools.http_client] enabled = true`)
        }
        const fetched = yield* client.fetch({ method: "GET", url }).pipe(Effect.either)
        if (Either.isLeft(fetched)) return failed(`fetching ${url} failed: ${fetched.left.message}`)
        const response = fetched.right
        if (response.status >= 400) {
          return failed(`fetching ${url} failed: HTTP ${response.status} ${response.statusText}`)
        }
        const converted = yield* describeResponse(response, maxSummaryInput, htmlLimits(config)).pipe(Effect.either)
        if (converted._tag === "Left") return failed(`reading ${url} failed: ${converted.left.message}`)
        const described = converted.right
        const text = typeof described.body === "string" ? described.body : JSON.stringify(described.body)
        const prompt =
          `Summarise for me, briefly, the web page ${response.url} (fetched just now, HTTP ${response.status}):\n\n` +
          text.slice(0, maxSummaryInput)
        return yield* runTurn(turn, run, prompt)
      }).pipe(Effect.annotateLogs("url", run.job.payload))
  } satisfies TaskStrategy
})
