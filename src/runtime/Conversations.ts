/**
 * The conversation actors, and the only module that knows they run on @effect/cluster.
 *
 * Each conversation is an entity whose mailbox is stored in SQL: `submit` returns once the message
 * is stored (a channel acknowledges its platform only then), the entity handles its messages one
 * at a time in order, conversations run in parallel, and after a crash unprocessed messages are
 * delivered again. The message id is the mailbox's primary key, so a resent message is stored once.
 */
import { ClusterSchema, Entity, SingleRunner, Snowflake } from "@effect/cluster"
import { Rpc } from "@effect/rpc"
import { SqlClient } from "@effect/sql"
import { Clock, Data, Duration, Effect, Layer, Metric, Schedule } from "effect"
import { Bus, BusEvent } from "../bus/Bus.ts"
import { AppConfig } from "../config/Config.ts"
import { type ConversationKey, keyOf } from "../domain/Conversation.ts"
import { InboundMessage } from "../domain/Inbound.ts"
import * as Metrics from "../observability/Metrics.ts"
import { ConversationTurn } from "./ConversationTurn.ts"
import { TurnLedger } from "./TurnLedger.ts"

const Inbound = Rpc.make("Inbound", { payload: InboundMessage })

const Conversation = Entity.make("Conversation", [Inbound]).annotateRpcs(ClusterSchema.Persisted, true)

/** An actor with nothing to do is released from memory after this long; its mailbox stays stored. */
const actorIdleTime = Duration.minutes(5)
/** How often stored messages are looked for (redelivery after a restart). */
const mailboxPollInterval = Duration.seconds(1)
const pruneEvery = Schedule.spaced(Duration.hours(1))
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
    return { Inbound: ({ payload }) => turn.run(payload) }
  }),
  { maxIdleTime: actorIdleTime, concurrency: 1 }
)

export class Conversations extends Effect.Service<Conversations>()("minibot/Conversations", {
  effect: Effect.gen(function*() {
    const makeClient = yield* Conversation.client
    const turn = yield* ConversationTurn
    const bus = yield* Bus

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

    return { submit, cancel } as const
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

/** A single-process cluster whose mailboxes live in the app's database. */
export const runnerLayer = SingleRunner.layer({
  runnerStorage: "memory",
  shardingConfig: { entityMessagePollInterval: mailboxPollInterval, entityTerminationTimeout: turnGracePeriod }
})

/** Actors, their client and the pruner; needs the database, the turn and the bus. */
export const layer = Layer.mergeAll(Conversations.Default, ConversationEntity, Pruner).pipe(
  Layer.provideMerge(runnerLayer)
)

export { Conversation }
