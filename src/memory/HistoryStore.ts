/**
 * Conversation history: the messages the LLM has seen, grouped by turn. A window is counted in
 * whole turns (a user message, any tool calls and results, the answer), so trimming never
 * separates a tool call from its result; storage stays bounded by `max_history_messages`.
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import { MemorySettings } from "../config/Config.ts"
import { ChatMessage, ToolCall } from "../domain/ChatMessage.ts"
import type { ConversationKey } from "../domain/Conversation.ts"
import { CountRow, SqlInt } from "../storage/Columns.ts"
import type { RedisUnavailable } from "./RedisHistory.ts"
import { groupTurns, lastTurns, type Turn, turnSizes, turnsToDrop } from "./Turns.ts"

/** What the configured layer may need: the settings, and the database for `sqlite`. */
type Needs = MemorySettings | SqlClient.SqlClient

export interface HistoryEntry {
  readonly turnId: string
  readonly message: ChatMessage
  readonly createdAt: number
}

export interface HistoryInfo {
  readonly messages: number
  readonly turns: number
  readonly oldest: Option.Option<number>
  readonly newest: Option.Option<number>
}

export class HistoryStore extends Context.Tag("minibot/HistoryStore")<HistoryStore, {
  /** Appends one turn's messages, then trims the oldest whole turns past the bound. */
  readonly append: (key: ConversationKey, turnId: string, messages: ReadonlyArray<ChatMessage>) => Effect.Effect<void>
  /** The messages of the last `turns` turns, oldest first. */
  readonly window: (key: ConversationKey, turns: number) => Effect.Effect<ReadonlyArray<ChatMessage>>
  /** The last `turns` turns with their ids, oldest first (what a summary covers is named by turn id). */
  readonly turns: (key: ConversationKey, turns: number) => Effect.Effect<ReadonlyArray<Turn<ChatMessage>>>
  readonly info: (key: ConversationKey) => Effect.Effect<HistoryInfo>
  /** Keeps the latest `keepTurns` turns; returns how many messages were removed. */
  readonly trim: (key: ConversationKey, keepTurns: number) => Effect.Effect<number>
  readonly clear: (key: ConversationKey) => Effect.Effect<number>
}>() {
  static readonly memory: Layer.Layer<HistoryStore, never, MemorySettings> = Layer.effect(
    HistoryStore,
    Effect.flatMap(MemorySettings, (memory) => makeMemory(memory.max_history_messages))
  )

  static readonly sqlite: Layer.Layer<HistoryStore, never, MemorySettings | SqlClient.SqlClient> = Layer.effect(
    HistoryStore,
    Effect.flatMap(MemorySettings, (memory) => makeSql(memory.max_history_messages))
  )

  /**
   * On Redis (`[memory.redis]`): connected at start, closed when the scope ends. The client is
   * loaded only then (the other backends do not pay for its code at start).
   */
  static readonly redis: Layer.Layer<HistoryStore, RedisUnavailable, MemorySettings> = Layer.scoped(
    HistoryStore,
    Effect.flatMap(MemorySettings, (memory) =>
      Effect.flatMap(
        Effect.promise(() => import("./RedisHistory.ts")),
        (redis) => Effect.map(redis.makeRedis(memory), HistoryStore.of)
      ))
  )

  /** The backend `[memory] backend` names. */
  static readonly fromConfig = Layer.unwrapEffect(
    Effect.map(MemorySettings, (memory): Layer.Layer<HistoryStore, RedisUnavailable, Needs> => {
      switch (memory.backend) {
        case "in_memory":
          return HistoryStore.memory
        case "redis":
          return HistoryStore.redis
        case "sqlite":
          return HistoryStore.sqlite
      }
    })
  )
}

export const makeMemory = (maxMessages: number) =>
  Effect.suspend(() => {
    const store = new Map<ConversationKey, ReadonlyArray<HistoryEntry>>()
    const get = (key: ConversationKey) => Effect.sync(() => store.get(key) ?? [])
    const set = (key: ConversationKey, entries: ReadonlyArray<HistoryEntry>) =>
      Effect.sync(() => void store.set(key, entries))

    return Effect.succeed(HistoryStore.of({
      append: (key, turnId, messages) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const entries = [...yield* get(key), ...messages.map((message) => ({ turnId, message, createdAt: now }))]
          const drop = new Set(turnsToDrop(turnSizes(entries), maxMessages))
          yield* set(key, entries.filter((e) => !drop.has(e.turnId)))
        }),
      window: (key, turns) => Effect.map(get(key), (entries) => lastTurns(entries, turns).map((e) => e.message)),
      turns: (key, turns) => Effect.map(get(key), (entries) => groupTurns(lastTurns(entries, turns))),
      info: (key) =>
        Effect.map(get(key), (entries) => ({
          messages: entries.length,
          turns: turnSizes(entries).length,
          oldest: Option.fromNullable(entries[0]?.createdAt),
          newest: Option.fromNullable(entries.at(-1)?.createdAt)
        })),
      trim: (key, keepTurns) =>
        Effect.gen(function*() {
          const entries = yield* get(key)
          const kept = lastTurns(entries, keepTurns)
          yield* set(key, kept)
          return entries.length - kept.length
        }),
      clear: (key) =>
        Effect.gen(function*() {
          const entries = yield* get(key)
          yield* set(key, [])
          return entries.length
        })
    }))
  })

const ToolCallsJson = Schema.parseJson(Schema.Array(ToolCall))

/** A `history` row's message columns; `role` is the message's `_tag`, tool calls are JSON. */
const MessageRow = Schema.Struct({
  role: Schema.Literal("system", "user", "assistant", "tool"),
  content: Schema.NullOr(Schema.String),
  tool_calls: Schema.NullOr(ToolCallsJson),
  tool_call_id: Schema.NullOr(Schema.String)
})

/** A message from its row and back (an assistant message without tool calls stores NULL). */
const MessageFromRow = Schema.transform(MessageRow, ChatMessage, {
  strict: false,
  decode: (row) => ({
    _tag: row.role,
    content: row.content,
    ...(row.tool_calls === null ? {} : { tool_calls: row.tool_calls }),
    ...(row.tool_call_id === null ? {} : { tool_call_id: row.tool_call_id })
  }),
  encode: (message) => ({
    role: message._tag,
    content: message.content,
    tool_calls: message._tag === "assistant" && message.tool_calls !== undefined && message.tool_calls.length > 0
      ? message.tool_calls
      : null,
    tool_call_id: message._tag === "tool" ? message.tool_call_id : null
  })
})

const TurnSizeRow = Schema.Struct({ turn_id: Schema.String, n: SqlInt })
const TurnIdRow = Schema.Struct({ turn_id: Schema.String })
const InfoRow = Schema.Struct({
  messages: SqlInt,
  turns: SqlInt,
  oldest: Schema.NullOr(SqlInt),
  newest: Schema.NullOr(SqlInt)
})

export const makeSql = (maxMessages: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const turnSizesOf = SqlSchema.findAll({
      Request: Schema.String,
      Result: TurnSizeRow,
      execute: (key) =>
        sql`
          SELECT turn_id, COUNT(*) AS n, MIN(id) AS first_id FROM history
          WHERE conversation_key = ${key} GROUP BY turn_id ORDER BY first_id
        `
    })

    const deleteTurns = (key: ConversationKey, turnIds: ReadonlyArray<string>) =>
      turnIds.length === 0
        ? Effect.void
        : sql`DELETE FROM history WHERE conversation_key = ${key} AND ${sql.in("turn_id", turnIds)}`

    const turnIdsOf = SqlSchema.findAll({
      Request: Schema.String,
      Result: TurnIdRow,
      execute: (key) => sql`SELECT turn_id FROM history WHERE conversation_key = ${key} ORDER BY id`
    })

    const count = SqlSchema.single({
      Request: Schema.String,
      Result: CountRow,
      execute: (key) => sql`SELECT COUNT(*) AS n FROM history WHERE conversation_key = ${key}`
    })

    const insertMessages = SqlSchema.void({
      Request: Schema.Struct({
        key: Schema.String,
        turnId: Schema.String,
        now: Schema.Number,
        messages: Schema.Array(MessageFromRow)
      }),
      execute: ({ key, messages, now, turnId }) =>
        sql`INSERT INTO history ${
          sql.insert(messages.map((m) => ({ conversation_key: key, turn_id: turnId, created_at: now, ...m })))
        }`
    })

    /**
     * The messages of the newest `turns` turns, from the oldest message still inside the window on:
     * one statement (the window's first id is a subquery), as every turn reads it.
     */
    const windowRows = (key: string, turns: number) =>
      sql<Record<string, unknown>>`
        SELECT * FROM history WHERE conversation_key = ${key} AND id >= (
          SELECT MIN(first_id) FROM (
            SELECT MIN(id) AS first_id FROM history WHERE conversation_key = ${key}
            GROUP BY turn_id ORDER BY first_id DESC LIMIT ${turns}
          ) AS recent
        ) ORDER BY id
      `

    const messagesOfWindow = SqlSchema.findAll({
      Request: Schema.Struct({ key: Schema.String, turns: Schema.Number }),
      Result: MessageFromRow,
      execute: ({ key, turns }) => windowRows(key, turns)
    })

    const entriesOfWindow = SqlSchema.findAll({
      Request: Schema.Struct({ key: Schema.String, turns: Schema.Number }),
      Result: Schema.Struct({ turn_id: Schema.String, message: MessageFromRow }),
      execute: ({ key, turns }) =>
        Effect.map(windowRows(key, turns), (rows) => rows.map((row) => ({ turn_id: row.turn_id, message: row })))
    })

    const infoOf = SqlSchema.single({
      Request: Schema.String,
      Result: InfoRow,
      execute: (key) =>
        sql`
          SELECT COUNT(*) AS messages, COUNT(DISTINCT turn_id) AS turns,
                 MIN(created_at) AS oldest, MAX(created_at) AS newest
          FROM history WHERE conversation_key = ${key}
        `
    })

    /**
     * A transaction of its own, unless the caller's is open: a turn appends in the transaction
     * that records its reply, where a savepoint would cost two more statements and undo nothing
     * (a failure here is a defect, which rolls the caller's transaction back).
     */
    const ownTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.flatMap(
        Effect.serviceOption(SqlClient.TransactionConnection),
        (open) => Option.isSome(open) ? effect : sql.withTransaction(effect)
      )

    const store = HistoryStore.of({
      append: (key, turnId, messages) =>
        Effect.gen(function*() {
          if (messages.length === 0) return
          const now = yield* Clock.currentTimeMillis
          yield* insertMessages({ key, turnId, now, messages })
          if ((yield* count(key)).n > maxMessages) {
            const sizes = yield* turnSizesOf(key)
            yield* deleteTurns(key, turnsToDrop(sizes.map((r) => [r.turn_id, r.n] as const), maxMessages))
          }
        }).pipe(ownTransaction, Effect.orDie),
      window: (key, turns) => turns <= 0 ? Effect.succeed([]) : messagesOfWindow({ key, turns }).pipe(Effect.orDie),
      turns: (key, turns) =>
        turns <= 0 ? Effect.succeed([]) : entriesOfWindow({ key, turns }).pipe(
          Effect.map((rows) => groupTurns(rows.map((r) => ({ turnId: r.turn_id, message: r.message })))),
          Effect.orDie
        ),
      info: (key) =>
        infoOf(key).pipe(
          Effect.map((r) => ({
            messages: r.messages,
            turns: r.turns,
            oldest: Option.fromNullable(r.oldest),
            newest: Option.fromNullable(r.newest)
          })),
          Effect.orDie
        ),
      trim: (key, keepTurns) =>
        Effect.gen(function*() {
          const rows = yield* turnIdsOf(key)
          const kept = new Set(lastTurns(rows.map((r) => ({ turnId: r.turn_id })), keepTurns).map((r) => r.turnId))
          const drop = [...new Set(rows.map((r) => r.turn_id))].filter((t) => !kept.has(t))
          yield* deleteTurns(key, drop)
          return rows.filter((r) => !kept.has(r.turn_id)).length
        }).pipe(sql.withTransaction, Effect.orDie),
      clear: (key) =>
        Effect.gen(function*() {
          const { n } = yield* count(key)
          yield* sql`DELETE FROM history WHERE conversation_key = ${key}`
          return n
        }).pipe(sql.withTransaction, Effect.orDie)
    })
    return store
  })
