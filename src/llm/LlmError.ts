/**
 * How the language model fails, for the port and its implementations: the error a caller sees
 * once the retries are spent, the error raised while building a client, and the text for the user.
 */
import { Data, Schema } from "effect"

export type LlmFailureReason =
  | "timeout"
  | "rate_limited"
  | "server_error"
  | "connection"
  | "auth"
  | "bad_request"
  | "invalid_response"

/**
 * The LLM failed for good (after the retries it deserved). `message` is built from the reason
 * and status only; `detail` and `cause` are scrubbed of the API key, and `cause` never holds
 * the SDK error itself (it carries request and response headers).
 */
export class LlmError extends Data.TaggedError("LlmError")<{
  readonly reason: LlmFailureReason
  readonly status?: number
  readonly attempts: number
  /** What the server or the network said, for the logs (not for the user). */
  readonly detail?: string
  readonly cause?: unknown
  readonly message: string
}> {}

/** The configuration cannot give a working LLM client (raised while building the layer). */
export class LlmSetupError extends Schema.TaggedError<LlmSetupError>()("LlmSetupError", {
  message: Schema.String
}) {}

/** The short text the user sees when the LLM failed for good. Never a stack, never a secret. */
export const userMessage = (error: LlmError): string => {
  const tries = `${error.attempts} ${error.attempts === 1 ? "attempt" : "attempts"}`
  switch (error.reason) {
    case "timeout":
      return `Sorry, the language model did not answer in time (${tries}). Please try again in a moment.`
    case "rate_limited":
      return `Sorry, the language model is rate-limiting minibot right now (${tries}). Please try again in a minute.`
    case "server_error":
      return `Sorry, the language model service is failing right now (${tries}). Please try again later.`
    case "connection":
      return `Sorry, minibot could not reach the language model (${tries}). Please try again later.`
    case "auth":
      return "Sorry, the language model rejected minibot's credentials: the owner should check llm.api_key."
    case "bad_request":
      return `Sorry, the language model refused this request${
        error.status ? ` (HTTP ${error.status})` : ""
      }. The owner can find details in the logs.`
    case "invalid_response":
      return "Sorry, the language model sent an answer minibot could not read. Please try again."
  }
}
