/**
 * The conversation actors, and the only module that knows they run on @effect/cluster.
 *
 * Each conversation is an entity whose mailbox is stored in SQL: `submit` returns once the message
 * is stored (a channel acknowledges its platform only then), the entity handles its messages one
 * at a time in order, conversations run in parallel, and after a crash unprocessed messages are
 * delivered again. The message id is the mailbox's primary key, so a resent message is stored once.
 * Scheduled jobs reach the same actors as `Fire` messages delivered at their due time (`DeliverAt`),
 * so a due job never interleaves with the chat's own turns; `FiringHandler` (the scheduler) runs them.
 */
import { ClusterSchema, DeliverAt, Entity, RunnerAddress, Sharding, SingleRunner, Snowflake } from "@effect/cluster"
import { Rpc } from "@effect/rpc"
import { SqlClient } from "@effect/sql"
import {
  Clock,
  Context,
  Data,
  DateTime,
  Duration,
  Effect,
  Layer,
  Metric,
  Option,
  PrimaryKey,
  Schedule,
  Schema
} from "effect"
import * as os from "node:os"
import { Bus, BusEvent } from "../bus/Bus.ts"
import { AppConfig } from "../config/Config.ts"
import { type ConversationKey, ConversationRef, keyOf } from "../domain/Conversation.ts"
import { InboundMessage } from "../domain/Inbound.ts"
import * as Metrics from "../observability/Metrics.ts"
import { ConversationTurn } from "./ConversationTurn.ts"
import { TurnLedger } from "./TurnLedger.ts"

const Inbound = Rpc.make("Inbound", { payload: InboundMessage })

/**
 * A due firing of a scheduled job, delivered to the job's conversation no earlier than `at`
 * (the due time, or a retry time), so it is serialized with that chat's own turns. Its primary
 * key makes a firing stored once however often it is posted.
 */
export class JobFiring extends Schema.Class<JobFiring>("JobFiring")({
  jobId: Schema.String,
  /** The due time this firing is for (epoch ms). */
  dueAt: Schema.Number,
  /** 0 for the due firing, n for the n-th retry. */
  attempt: Schema.Number,
  /** Not delivered before this time (epoch ms). */
  at: Schema.Number,
  conversation: ConversationRef
}) {
  [PrimaryKey.symbol]() {
    return `${this.jobId}:${this.dueAt}:${this.attempt}`
  }
  [DeliverAt.symbol]() {
    return DateTime.unsafeMake(this.at)
  }
}

const Fire = Rpc.make("Fire", { payload: JobFiring })

const Conversation = Entity.make("Conversation", [Inbound, Fire]).annotateRpcs(ClusterSchema.Persisted, true)

/** What runs a due firing (the scheduler); provided to the actors, so the runtime does not depend on it. */
export class FiringHandler extends Context.Tag("minibot/FiringHandler")<FiringHandler, {
  readonly fire: (firing: JobFiring) => Effect.Effect<void>
}>() {}

/** An actor with nothing to do is released from memory after this long; its mailbox stays stored. */
const actorIdleTime = Duration.minutes(5)
const pruneEvery = Schedule.spaced(Duration.hours(1))
/** Shard locks of runners sharing Postgres: refreshed this often, taken over when this old. */
const sharedLockRefresh = Duration.seconds(2)
const sharedLockExpiration = Duration.seconds(10)
/** On shutdown a running turn may finish within this; after it, it is interrupted and redelivered on the next start. */
const turnGracePeriod = Duration.seconds(5)

export class SubmitError extends Data.TaggedError("SubmitError")<{ readonly cause: unknown }> {
  override get message() {
    return "the message could not be stored for its conversation"
  }
}

const ConversationEntity = Conversation.toLayer(
  Effect.gen(function*() {
    const turn = yield* ConversationTurn
    const firings = yield* FiringHandler
    return {
      Inbound: ({ payload }) => Effect.asVoid(turn.run(payload)),
      Fire: ({ payload }) => firings.fire(payload)
    }
  }),
  { maxIdleTime: actorIdleTime, concurrency: 1 }
)

export class Conversations extends Effect.Service<Conversations>()("minibot/Conversations", {
  effect: Effect.gen(function*() {
    const makeClient = yield* Conversation.client
    const turn = yield* ConversationTurn
    const bus = yield* Bus
    const sql = yield* SqlClient.SqlClient

    /** Stores the message in its conversation's mailbox; succeeds once it is durable. */
    const submit = (message: InboundMessage) =>
      Effect.gen(function*() {
        const key = keyOf(message.conversation)
        yield* makeClient(key).Inbound(message, { discard: true }).pipe(
          Effect.mapError((cause) => new SubmitError({ cause }))
        )
        yield* Metric.increment(Metrics.messagesReceived)
        yield* bus.publish(BusEvent.InboundReceived({
          conversation: key,
          messageId: message.messageId,
          requestId: message.requestId,
          userId: message.userId
        }))
      }).pipe(Effect.withSpan("Conversations.submit"))

    /** Stops the model work of the conversation's running turn (`/stop`), bypassing its mailbox. */
    const cancel = (key: ConversationKey) => turn.cancel(key)

    /** Messages stored for the conversation and not yet handled, the running one included (`/status`). */
    const pending = (key: ConversationKey) =>
      sql<{ n: number }>`
        SELECT COUNT(*) AS n FROM cluster_messages
        WHERE entity_type = 'Conversation' AND entity_id = ${key} AND tag = 'Inbound' AND processed = FALSE
      `.pipe(Effect.map(([row]) => Number(row?.n ?? 0)))

    return { submit, cancel, pending } as const
  })
}) {}

/** Deletes processed mailbox rows and turn records older than `[runtime] message_retention_hours`. */
const Pruner = Layer.scopedDiscard(
  Effect.gen(function*() {
    const { config } = yield* AppConfig
    const sql = yield* SqlClient.SqlClient
    const ledger = yield* TurnLedger
    const retention = Duration.hours(config.runtime.message_retention_hours)
    const prune = Effect.gen(function*() {
      const before = (yield* Clock.currentTimeMillis) - Duration.toMillis(retention)
      const oldest = Snowflake.make({ timestamp: before, machineId: 0 as never, sequence: 0 })
      yield* sql`DELETE FROM cluster_messages WHERE processed = TRUE AND id < ${oldest}`
      yield* sql`
        DELETE FROM cluster_replies WHERE request_id < ${oldest}
        AND request_id NOT IN (SELECT request_id FROM cluster_messages)
      `
      yield* ledger.prune(before)
    }).pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("pruning old messages failed", cause)),
      Effect.annotateLogs("component", "pruner")
    )
    yield* prune.pipe(Effect.repeat(pruneEvery), Effect.forkScoped)
  })
)

/**
 * Posts job firings to the durable mailboxes and wakes the mailbox reader at a due time, so a
 * firing is read when it falls due rather than at the next poll. Needs only the runner.
 */
export class JobMailbox extends Effect.Service<JobMailbox>()("minibot/JobMailbox", {
  effect: Effect.gen(function*() {
    const makeClient = yield* Conversation.client
    const sharding = yield* Sharding.Sharding
    const sql = yield* SqlClient.SqlClient

    /** Stores the firing (once per primary key); it is delivered when its time comes. */
    const post = (firing: JobFiring) =>
      makeClient(keyOf(firing.conversation)).Fire(firing, { discard: true }).pipe(
        Effect.mapError((cause) => new SubmitError({ cause }))
      )

    /** Reads the mailboxes now (call it at a due time). */
    const poll = sharding.pollStorage

    /** The firings of the list that are not waiting in a mailbox (lost between a commit and a post). */
    const unposted = (firings: ReadonlyArray<JobFiring>) =>
      Effect.gen(function*() {
        if (firings.length === 0) return []
        const ids = firings.map((f) => `Conversation/${keyOf(f.conversation)}/Fire/${PrimaryKey.value(f)}`)
        const rows = yield* sql<{ message_id: string }>`
          SELECT message_id FROM cluster_messages WHERE processed = FALSE AND ${sql.in("message_id", ids)}
        `
        const present = new Set(rows.map((r) => r.message_id))
        return firings.filter((_, i) => !present.has(ids[i]!))
      })

    return { post, poll, unposted } as const
  })
}) {}

/**
 * The cluster of this process, with mailboxes in the app's database. On SQLite one runner owns
 * every shard; on Postgres shard locks live in the database too, so several processes split
 * the conversations (each needs its own runner address: host name and pid).
 */
export const runnerLayer = Layer.unwrapEffect(Effect.map(AppConfig, ({ config }) => {
  const shared = config.storage.backend === "postgres"
  return SingleRunner.layer({
    runnerStorage: shared ? "sql" : "memory",
    shardingConfig: {
      entityMessagePollInterval: Duration.millis(config.scheduler.poll_interval_ms),
      entityTerminationTimeout: turnGracePeriod,
      ...(shared
        ? {
          runnerAddress: Option.some(RunnerAddress.make(os.hostname(), process.pid)),
          // A runner that died (kill -9) gives its conversations up after this, not the default 35 s.
          shardLockRefreshInterval: sharedLockRefresh,
          shardLockExpiration: sharedLockExpiration
        }
        : {})
    }
  })
}))

/** Actors, their client and the pruner; needs the runner, the turn, the firing handler, the bus. */
export const layer = Layer.mergeAll(Conversations.Default, ConversationEntity, Pruner)

export { Conversation }
