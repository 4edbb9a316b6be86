/**
 * The `[tools]` section of `config.toml`: `[tools.kv_memory]` (notes) and `[tools.http_client]`
 * (`http_request`). Plug `ToolsConfig` into `MinibotConfig` as `tools: section(ToolsConfig.fields)`;
 * the tools read it, with `[runtime] timezone`, through the `ToolsSettings` tag.
 */
import { Context, Layer, Schema } from "effect"
import { PositiveInt, PositiveSeconds, section, withDefault } from "../config/Primitives.ts"

export const HttpMethod = Schema.Literal("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
export type HttpMethod = typeof HttpMethod.Type
export const allHttpMethods: ReadonlyArray<HttpMethod> = HttpMethod.literals

export const KvMemoryConfig = Schema.Struct({
  enabled: withDefault(Schema.Boolean, () => true),
  /** Page size of `memory_list` / `memory_search` when the model gives no `limit`. */
  default_limit: withDefault(PositiveInt, () => 20),
  /** Larger `limit`s are cut down to this. */
  max_limit: withDefault(PositiveInt.pipe(Schema.lessThanOrEqualTo(1000)), () => 100),
  /** Owner of every note in a single-user set-up (otherwise the channel identity is the owner). */
  default_owner_id: Schema.optionalWith(Schema.NonEmptyString, { exact: true }),
  /** Notes one owner may keep; saving a new title beyond it is refused (updates pass). */
  max_notes_per_owner: withDefault(PositiveInt, () => 1000),
  /** Size of one note's data, in UTF-8 bytes. */
  max_note_bytes: withDefault(PositiveInt.pipe(Schema.lessThanOrEqualTo(10 * 1024 * 1024)), () => 100_000),
  /** How often expired notes are deleted for good (they are invisible as soon as they expire). */
  purge_interval_seconds: withDefault(PositiveInt, () => 3600)
}).pipe(
  Schema.filter((c) =>
    c.default_limit <= c.max_limit || {
      path: ["default_limit"],
      message: `must not exceed max_limit (${c.max_limit})`
    }
  )
)
export type KvMemoryConfig = typeof KvMemoryConfig.Type

export const HttpClientConfig = Schema.Struct({
  enabled: withDefault(Schema.Boolean, () => false),
  /** Whole request: DNS, connect, every redirect hop and the body. */
  timeout_seconds: withDefault(PositiveSeconds, () => 15),
  /** Bytes of (decompressed) response body read; the rest is cut and `truncated` is set. */
  max_bytes: withDefault(PositiveInt.pipe(Schema.lessThanOrEqualTo(64 * 1024 * 1024)), () => 1024 * 1024),
  /** Characters of text (after HTML reduction) handed to the model. */
  max_text_chars: withDefault(PositiveInt, () => 40_000),
  /** Time and memory one HTML-to-text conversion may take (it runs in a worker thread, stopped beyond them). */
  html_timeout_seconds: withDefault(PositiveSeconds, () => 5),
  html_max_memory_mb: withDefault(PositiveInt.pipe(Schema.between(16, 4096)), () => 256),
  max_redirects: withDefault(Schema.Int.pipe(Schema.between(0, 10)), () => 5),
  /** Off: loopback, private, link-local, CGNAT, unique-local... addresses are refused. */
  allow_private_networks: withDefault(Schema.Boolean, () => false),
  user_agent: withDefault(Schema.NonEmptyString, () => "minibot/0.1 (+http_request tool)"),
  allowed_methods: withDefault(
    Schema.NonEmptyArray(HttpMethod),
    () => ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] as const
  )
})
export type HttpClientConfig = typeof HttpClientConfig.Type

export const ToolsConfig = Schema.Struct({
  /** Default time limit of one tool call (a tool may declare its own). */
  timeout_seconds: withDefault(PositiveSeconds, () => 30),
  /** Tool calls run from one model answer; the rest are dropped (and left out of the history). */
  max_calls_per_step: withDefault(PositiveInt.pipe(Schema.lessThanOrEqualTo(100)), () => 16),
  kv_memory: section(KvMemoryConfig),
  http_client: section(HttpClientConfig)
})
export type ToolsConfig = typeof ToolsConfig.Type

/** Decodes a plain object (as parsed from TOML) into a tools config; throws on errors (tests). */
export const makeToolsConfig = (input: unknown = {}): ToolsConfig => Schema.decodeUnknownSync(ToolsConfig)(input)

/** What the built-in tools need from the configuration. */
export class ToolsSettings extends Context.Tag("minibot/ToolsSettings")<ToolsSettings, {
  readonly tools: ToolsConfig
  /** `[runtime] timezone`: the default zone of `current_datetime`. */
  readonly timezone: string
}>() {
  static readonly layer = (settings: { readonly tools?: ToolsConfig; readonly timezone?: string } = {}) =>
    Layer.succeed(ToolsSettings, {
      tools: settings.tools ?? makeToolsConfig(),
      timezone: settings.timezone ?? "UTC"
    })
}

/** Ready to place in `MinibotConfig`: `tools: toolsSection` (an absent `[tools]` gets every default). */
export const toolsSection = section(ToolsConfig)
