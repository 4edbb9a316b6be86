/**
 * Conversation history on Redis (`[memory] backend = "redis"`), for runners on several hosts
 * sharing one history. One list per conversation, `<key_prefix>history:<conversation key>`, one
 * JSON element per message with its turn id and time. Appending (with the trim that keeps
 * `max_history_messages`) and trimming are Lua scripts, so a turn's messages land together and
 * no other writer sees half a turn, even with two runners on the same conversation. With
 * `ttl_seconds`, every write gives the list that long again: an idle conversation is forgotten.
 */
import { Clock, type Context, Data, Effect, Option, Redacted, Runtime, Schema } from "effect"
import { createClient } from "redis"
import type { MemoryConfig } from "../config/Config.ts"
import { ChatMessage } from "../domain/ChatMessage.ts"
import type { ConversationKey } from "../domain/Conversation.ts"
import type { HistoryStore } from "./HistoryStore.ts"
import { lastTurns, turnSizes } from "./Turns.ts"

/** Redis did not answer at start. Names the key to fix and the address, never the password. */
export class RedisUnavailable extends Data.TaggedError("RedisUnavailable")<{
  readonly address: string
  readonly cause: unknown
}> {
  override get message() {
    const why = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `history backend redis: cannot connect to ${this.address} (memory.redis.url): ${why}`
  }
}

/** A Redis command failed after start: the store's operations die with it, as the SQL store's do. */
class RedisCommandFailed extends Data.TaggedError("RedisCommandFailed")<{
  readonly command: string
  readonly cause: unknown
}> {}

const connectTimeoutMillis = 5_000
/** After a connection was lost (not at start): retry with backoff, up to this delay between tries. */
const reconnectDelay = (retries: number) => Math.min(100 * 2 ** retries, 5_000)

/** One list element: the message with its turn id (`turn`, read by the scripts) and time. */
const Entry = Schema.parseJson(Schema.Struct({ turn: Schema.String, at: Schema.Number, message: ChatMessage }))
const decodeEntries = Schema.decodeUnknown(Schema.Array(Entry))
const encodeEntry = Schema.encodeSync(Entry)

/** Lua: `turns`, the turn id of each element of the list at KEYS[1], oldest first. */
const readTurns = `
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
local turns = {}
for i, entry in ipairs(entries) do turns[i] = cjson.decode(entry).turn end
local n = #turns
`

/** Lua: gives the list ARGV[1] seconds to live again (0: no expiry). */
const refreshTtl = `
if tonumber(ARGV[1]) > 0 and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
`

/**
 * ARGV: ttl, max messages, then the turn's elements. Pushes them, then drops the oldest whole
 * turns while more than `max` remain, never the newest turn (see `turnsToDrop`).
 */
const appendScript = `
for i = 3, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
local max = tonumber(ARGV[2])
if redis.call('LLEN', KEYS[1]) > max then
  ${readTurns}
  local total, first = n, 1
  while total > max do
    local last = first
    while last < n and turns[last + 1] == turns[first] do last = last + 1 end
    if last == n then break end
    total = total - (last - first + 1)
    first = last + 1
  end
  if first > 1 then redis.call('LTRIM', KEYS[1], first - 1, -1) end
end
${refreshTtl}
`

/** ARGV: ttl, turns to keep. Keeps the newest whole turns; returns how many messages went. */
const trimScript = `
${readTurns}
local keep, seen, start = tonumber(ARGV[2]), 0, n + 1
for i = n, 1, -1 do
  if i == n or turns[i] ~= turns[i + 1] then
    if seen == keep then break end
    seen = seen + 1
  end
  start = i
end
if start > n then redis.call('DEL', KEYS[1]) elseif start > 1 then redis.call('LTRIM', KEYS[1], start - 1, -1) end
${refreshTtl}
return start - 1
`

/** `host:port` of a Redis URL, for messages (the URL itself may hold a password). */
const addressOf = (url: string) => {
  const parsed = new URL(url)
  return `${parsed.hostname}:${parsed.port || "6379"}`
}

/** A connected client, closed when the scope ends; fails at once with `RedisUnavailable` if Redis does not answer. */
const connect = (settings: MemoryConfig["redis"]) =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const address = addressOf(settings.url)
    const password = Option.fromNullable(settings.password).pipe(
      Option.map(Redacted.value),
      Option.filter((value) => value !== ""),
      Option.getOrUndefined
    )
    // `connected`: the first connection succeeded; `healthy`: no error since the last (re)connection.
    let connected = false
    let healthy = true
    const log = (effect: Effect.Effect<void>) =>
      Runtime.runFork(runtime)(effect.pipe(Effect.annotateLogs("redis", address)))
    const client = createClient({
      url: settings.url,
      ...(password === undefined ? {} : { password }),
      // Fail fast while down: a turn gets an error rather than waiting on a queue.
      disableOfflineQueue: true,
      socket: {
        connectTimeout: connectTimeoutMillis,
        // At start, one refusal is the answer; later, a lost connection is retried.
        reconnectStrategy: (retries, cause) => connected ? reconnectDelay(retries) : cause
      }
    })
    // Without an error listener, node-redis would throw connection errors out of the process.
    // One line when the connection is lost and one when it is back, not one per retry.
    client.on("error", (cause: unknown) => {
      if (!connected || !healthy) return
      healthy = false
      log(
        Effect.logWarning("redis history: connection lost, reconnecting").pipe(
          Effect.annotateLogs("error", cause instanceof Error ? cause.message : String(cause))
        )
      )
    })
    client.on("ready", () => {
      if (healthy) return
      healthy = true
      log(Effect.logInfo("redis history: reconnected"))
    })
    return yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => client.connect(),
        catch: (cause) => new RedisUnavailable({ address, cause })
      }).pipe(Effect.tap(() => Effect.sync(() => void (connected = true)))),
      (client) =>
        Effect.tryPromise(() => client.close()).pipe(
          Effect.orElse(() => Effect.sync(() => client.destroy()))
        )
    )
  })

/** The Redis history store for `[memory]` settings, on a client that lives as long as the scope. */
export const makeRedis = (memory: MemoryConfig) =>
  Effect.gen(function*() {
    const settings = memory.redis
    const client = yield* connect(settings)
    const ttl = String(settings.ttl_seconds ?? 0)
    const listKey = (key: ConversationKey) => `${settings.key_prefix}history:${key}`

    const run = <A>(command: string, f: () => Promise<A>) =>
      Effect.tryPromise({ try: f, catch: (cause) => new RedisCommandFailed({ command, cause }) })

    const entries = (key: ConversationKey) =>
      run("LRANGE", () => client.lRange(listKey(key), 0, -1)).pipe(
        Effect.flatMap(decodeEntries),
        Effect.map((rows) => rows.map((row) => ({ turnId: row.turn, message: row.message, createdAt: row.at })))
      )

    const store: Context.Tag.Service<HistoryStore> = {
      append: (key, turnId, messages) =>
        Effect.gen(function*() {
          if (messages.length === 0) return
          const now = yield* Clock.currentTimeMillis
          const elements = messages.map((message) => encodeEntry({ turn: turnId, at: now, message }))
          yield* run("append", () =>
            client.eval(appendScript, {
              keys: [listKey(key)],
              arguments: [ttl, String(memory.max_history_messages), ...elements]
            }))
        }).pipe(Effect.orDie, Effect.withSpan("RedisHistory.append")),
      window: (key, turns) =>
        turns <= 0
          ? Effect.succeed([])
          : entries(key).pipe(Effect.map((all) => lastTurns(all, turns).map((e) => e.message)), Effect.orDie),
      info: (key) =>
        entries(key).pipe(
          Effect.map((all) => ({
            messages: all.length,
            turns: turnSizes(all).length,
            oldest: Option.fromNullable(all[0]?.createdAt),
            newest: Option.fromNullable(all.at(-1)?.createdAt)
          })),
          Effect.orDie
        ),
      trim: (key, keepTurns) =>
        run("trim", () => client.eval(trimScript, { keys: [listKey(key)], arguments: [ttl, String(keepTurns)] })).pipe(
          Effect.map(Number),
          Effect.orDie
        ),
      clear: (key) =>
        run("clear", () => client.multi().lLen(listKey(key)).del(listKey(key)).exec()).pipe(
          Effect.map(([removed]) => Number(removed)),
          Effect.orDie
        )
    }
    return store
  })
