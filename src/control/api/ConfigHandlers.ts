/** `GET /api/config`: the effective configuration, every secret replaced by a marker. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect, Redacted } from "effect"
import { AppConfig } from "../../config/Config.ts"
import { Api } from "./Api.ts"

export const secretMarker = "[redacted]"

/** A plain copy of a config value with every `Redacted` (the Schema of each secret key) masked. */
export const withoutSecrets = (value: unknown): unknown => {
  if (Redacted.isRedacted(value)) return secretMarker
  if (Array.isArray(value)) return value.map(withoutSecrets)
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, withoutSecrets(v)]))
  }
  return value
}

export const ConfigHandlers = HttpApiBuilder.group(Api, "config", (handlers) =>
  Effect.gen(function*() {
    const { config } = yield* AppConfig
    const redacted = withoutSecrets(config) as Record<string, unknown>
    return handlers.handle("config", () => Effect.succeed(redacted))
  }))
