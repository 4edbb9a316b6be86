/**
 * Conversation history on Redis (`[memory] backend = "redis"`), for runners on several hosts
 * sharing one history. Two lists per conversation, `<key_prefix>history:{<conversation key>}:messages`
 * (one JSON element per message, with its time) and `...:turns` (each message's turn id).
 * Appending (with the trim that keeps `max_history_messages`), reading a window and trimming are
 * Lua scripts, so a turn's messages land together and no reader sees half a turn, even with two
 * runners on the same conversation. With `ttl_seconds`, every write gives both lists that long
 * again: an idle conversation is forgotten.
 */
import { Clock, type Context, Data, Effect, Option, Redacted, Runtime, Schema } from "effect"
import { createClient } from "redis"
import type { MemoryConfig } from "../config/Config.ts"
import { ChatMessage } from "../domain/ChatMessage.ts"
import type { ConversationKey } from "../domain/Conversation.ts"
import type { HistoryStore } from "./HistoryStore.ts"
import { groupTurns, turnSizes } from "./Turns.ts"

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

/** A message as its list holds it, with the time it was appended. */
const Entry = Schema.parseJson(Schema.Struct({ at: Schema.Number, message: ChatMessage }))
const decodeEntries = Schema.decodeUnknown(Schema.Array(Entry))
const decodeEntry = Schema.decodeUnknown(Schema.NullOr(Entry))
const encodeEntry = Schema.encodeSync(Entry)

/**
 * Lua shared by the scripts. KEYS[1] is the conversation's messages, KEYS[2] the turn id of each
 * message (the same length, written together): the scripts read only the short ids, never a
 * message, so their cost does not grow with what the messages hold.
 * `startOfLast(turns, keep)`: the 1-based index where the newest `keep` turns begin (#turns + 1: none).
 */
const prelude = `
local function startOfLast(turns, keep)
  local n, seen, start = #turns, 0, #turns + 1
  for i = n, 1, -1 do
    if i == n or turns[i] ~= turns[i + 1] then
      if seen == keep then break end
      seen = seen + 1
    end
    start = i
  end
  return start
end
local function keepFrom(start, n)
  if start > n then redis.call('DEL', KEYS[1], KEYS[2])
  elseif start > 1 then
    redis.call('LTRIM', KEYS[1], start - 1, -1)
    redis.call('LTRIM', KEYS[2], start - 1, -1)
  end
end
local function refreshTtl(ttl)
  if tonumber(ttl) > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('EXPIRE', KEYS[1], ttl)
    redis.call('EXPIRE', KEYS[2], ttl)
  end
end
`

/**
 * ARGV: ttl, max messages, turn id, then the turn's messages. Pushes them, then drops the oldest
 * whole turns while more than `max` remain, never the newest turn (as `turnsToDrop` does).
 */
const appendScript = `${prelude}
for i = 4, #ARGV do
  redis.call('RPUSH', KEYS[1], ARGV[i])
  redis.call('RPUSH', KEYS[2], ARGV[3])
end
local max = tonumber(ARGV[2])
local total = redis.call('LLEN', KEYS[2])
if total > max then
  local turns = redis.call('LRANGE', KEYS[2], 0, -1)
  local n, first = #turns, 1
  while total > max do
    local last = first
    while last < n and turns[last + 1] == turns[first] do last = last + 1 end
    if last == n then break end
    total = total - (last - first + 1)
    first = last + 1
  end
  keepFrom(first, n)
end
refreshTtl(ARGV[1])
`

/** ARGV: turns. The messages of the newest whole turns, oldest first. */
const windowScript = `${prelude}
local turns = redis.call('LRANGE', KEYS[2], 0, -1)
local start = startOfLast(turns, tonumber(ARGV[1]))
if start > #turns then return {} end
return redis.call('LRANGE', KEYS[1], start - 1, -1)
`

/** ARGV: turns. The newest whole turns: their messages, then the turn id of each, oldest first. */
const turnsScript = `${prelude}
local turns = redis.call('LRANGE', KEYS[2], 0, -1)
local start = startOfLast(turns, tonumber(ARGV[1]))
if start > #turns then return {{}, {}} end
return {redis.call('LRANGE', KEYS[1], start - 1, -1), redis.call('LRANGE', KEYS[2], start - 1, -1)}
`

/** ARGV: ttl, turns to keep. Keeps the newest whole turns; returns how many messages went. */
const trimScript = `${prelude}
local turns = redis.call('LRANGE', KEYS[2], 0, -1)
local start = startOfLast(turns, tonumber(ARGV[2]))
keepFrom(start, #turns)
refreshTtl(ARGV[1])
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
    // One hash tag per conversation: both lists live in the same slot of a Redis Cluster too.
    const keysOf = (key: ConversationKey) =>
      [
        `${settings.key_prefix}history:{${key}}:messages`,
        `${settings.key_prefix}history:{${key}}:turns`
      ] as const

    const run = <A>(command: string, f: () => Promise<A>) =>
      Effect.tryPromise({ try: f, catch: (cause) => new RedisCommandFailed({ command, cause }) })

    const store: Context.Tag.Service<HistoryStore> = {
      append: (key, turnId, messages) =>
        Effect.gen(function*() {
          if (messages.length === 0) return
          const now = yield* Clock.currentTimeMillis
          const elements = messages.map((message) => encodeEntry({ at: now, message }))
          yield* run("append", () =>
            client.eval(appendScript, {
              keys: [...keysOf(key)],
              arguments: [ttl, String(memory.max_history_messages), turnId, ...elements]
            }))
        }).pipe(Effect.orDie, Effect.withSpan("RedisHistory.append")),
      window: (key, turns) =>
        turns <= 0 ?
          Effect.succeed([]) :
          run("window", () => client.eval(windowScript, { keys: [...keysOf(key)], arguments: [String(turns)] })).pipe(
            Effect.flatMap(decodeEntries),
            Effect.map((entries) => entries.map((e) => e.message)),
            Effect.orDie
          ),
      turns: (key, turns) =>
        turns <= 0 ?
          Effect.succeed([]) :
          Effect.gen(function*() {
            const [messages, turnIds] = yield* run(
              "turns",
              () => client.eval(turnsScript, { keys: [...keysOf(key)], arguments: [String(turns)] })
            ).pipe(
              Effect.flatMap(
                Schema.decodeUnknown(Schema.Tuple(Schema.Array(Schema.Unknown), Schema.Array(Schema.String)))
              )
            )
            const entries = yield* decodeEntries(messages)
            return groupTurns(entries.map((e, i) => ({ turnId: turnIds[i]!, message: e.message })))
          }).pipe(Effect.orDie),
      info: (key) =>
        Effect.gen(function*() {
          const [messages, turns] = keysOf(key)
          const [turnIds, first, last] = yield* run(
            "info",
            () => client.multi().lRange(turns, 0, -1).lIndex(messages, 0).lIndex(messages, -1).exec()
          )
          const ids = yield* Schema.decodeUnknown(Schema.Array(Schema.String))(turnIds)
          const oldest = yield* decodeEntry(first)
          const newest = yield* decodeEntry(last)
          return {
            messages: ids.length,
            turns: turnSizes(ids.map((turnId) => ({ turnId }))).length,
            oldest: Option.fromNullable(oldest?.at),
            newest: Option.fromNullable(newest?.at)
          }
        }).pipe(Effect.orDie),
      trim: (key, keepTurns) =>
        run("trim", () => client.eval(trimScript, { keys: [...keysOf(key)], arguments: [ttl, String(keepTurns)] }))
          .pipe(
            Effect.map(Number),
            Effect.orDie
          ),
      clear: (key) =>
        run("clear", () => client.multi().lLen(keysOf(key)[0]).del([...keysOf(key)]).exec()).pipe(
          Effect.map(([removed]) => Number(removed)),
          Effect.orDie
        )
    }
    return store
  })
