/**
 * The environment variables minibot reads, and the one precedence rule: a variable that is set
 * (and not empty) overrides the key it names, whether that key comes from the file or from the
 * built-in defaults. The table below is the reference; the README lists the same variables.
 */
import { Either } from "effect"

export type Env = Readonly<Record<string, string | undefined>>

type Kind = "string" | "ids" | "boolean" | "port"

export interface EnvironmentKey {
  readonly variable: string
  /** The config key it overrides, as a TOML path. */
  readonly key: string
  readonly kind: Kind
}

export const environmentKeys: ReadonlyArray<EnvironmentKey> = [
  { variable: "TELEGRAM_BOT_TOKEN", key: "channels.telegram.bot_token", kind: "string" },
  { variable: "MINIBOT_TELEGRAM_API_ROOT", key: "channels.telegram.api_root", kind: "string" },
  { variable: "MINIBOT_ALLOWED_USER_IDS", key: "channels.telegram.allowed_user_ids", kind: "ids" },
  { variable: "MINIBOT_DM_POLICY", key: "channels.telegram.dm_policy", kind: "string" },
  { variable: "OPENAI_API_KEY", key: "llm.api_key", kind: "string" },
  { variable: "OPENAI_BASE_URL", key: "llm.base_url", kind: "string" },
  { variable: "MINIBOT_MODEL", key: "llm.model", kind: "string" },
  { variable: "MINIBOT_DATA_DIR", key: "runtime.data_dir", kind: "string" },
  { variable: "MINIBOT_LOG_LEVEL", key: "runtime.log_level", kind: "string" },
  { variable: "MINIBOT_HTTP_ENABLED", key: "http.enabled", kind: "boolean" },
  { variable: "MINIBOT_HTTP_HOST", key: "http.host", kind: "string" },
  { variable: "MINIBOT_HTTP_PORT", key: "http.port", kind: "port" },
  { variable: "MINIBOT_HTTP_API", key: "http.api", kind: "boolean" },
  { variable: "MINIBOT_HTTP_API_TOKEN", key: "http.api_token", kind: "string" }
]

const parse = (entry: EnvironmentKey, text: string): Either.Either<unknown, string> => {
  switch (entry.kind) {
    case "string":
      return Either.right(text)
    case "ids": {
      const ids = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
      const bad = ids.filter((s) => !/^-?\d+$/.test(s))
      return bad.length > 0
        ? Either.left(`expected comma-separated numeric user ids, got ${JSON.stringify(bad.join(","))}`)
        : Either.right(ids.map(Number))
    }
    case "boolean": {
      const v = text.trim().toLowerCase()
      if (["true", "1", "yes", "on"].includes(v)) return Either.right(true)
      if (["false", "0", "no", "off"].includes(v)) return Either.right(false)
      return Either.left(`expected true or false, got ${JSON.stringify(text)}`)
    }
    case "port":
      return /^\d{1,5}$/.test(text.trim())
        ? Either.right(Number(text.trim()))
        : Either.left(`expected a port number, got ${JSON.stringify(text)}`)
  }
}

const setPath = (target: Record<string, unknown>, path: ReadonlyArray<string>, value: unknown) => {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    if (next === null || typeof next !== "object" || Array.isArray(next)) node[key] = {}
    node = node[key] as Record<string, unknown>
  }
  node[path.at(-1)!] = value
}

const clone = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(clone)
    : value !== null && typeof value === "object" && !(value instanceof Date)
    ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clone(v)]))
    : value

export interface Overridden {
  readonly raw: Record<string, unknown>
  /** The variables that were applied, for the start-up log and for error messages. */
  readonly applied: ReadonlyArray<EnvironmentKey>
}

/**
 * Applies the set variables over a parsed document. Without a file, a bot token also enables
 * Telegram (there is no other way to say so); with a file, `enabled` stays the file's choice.
 */
export const applyEnvironment = (
  document: unknown,
  env: Env,
  options: { readonly fileLess: boolean }
): Either.Either<Overridden, Array<string>> => {
  const raw =
    (document !== null && typeof document === "object" && !Array.isArray(document) ? clone(document) : {}) as Record<
      string,
      unknown
    >
  const applied: Array<EnvironmentKey> = []
  const problems: Array<string> = []
  for (const entry of environmentKeys) {
    const text = env[entry.variable]
    if (text === undefined || text === "") continue
    Either.match(parse(entry, text), {
      onLeft: (problem) => problems.push(`${entry.variable}: ${problem}`),
      onRight: (value) => {
        setPath(raw, entry.key.split("."), value)
        applied.push(entry)
      }
    })
  }
  if (options.fileLess && applied.some((e) => e.variable === "TELEGRAM_BOT_TOKEN")) {
    setPath(raw, ["channels", "telegram", "enabled"], true)
  }
  return problems.length > 0 ? Either.left(problems) : Either.right({ raw, applied })
}
