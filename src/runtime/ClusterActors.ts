/**
 * The actors on @effect/cluster: each conversation is an entity whose mailbox is stored in SQL
 * (the app's database). On SQLite one runner owns every shard; on Postgres shard locks live in
 * the database too, so several processes split the conversations (each needs its own runner
 * address: `[cluster] runner_address`, by default host name and pid; with one set, runners call
 * each other on it: `RunnerTransport`). Job firings are `Fire` messages delivered at their due time
 * (`DeliverAt`); a message's primary key is its mailbox id, so a resent message is stored once.
 */
import { ClusterSchema, DeliverAt, Entity, RunnerAddress, Sharding, SingleRunner } from "@effect/cluster"
import { Rpc } from "@effect/rpc"
import { SqlClient } from "@effect/sql"
import {
  Clock,
  type ConfigError,
  DateTime,
  Duration,
  Effect,
  Fiber,
  FiberMap,
  Layer,
  Metric,
  Option,
  PrimaryKey,
  Schedule,
  Schema
} from "effect"
import { Bus, BusEvent } from "../bus/Bus.ts"
import {
  ClusterSettings,
  runnerAddressOf,
  RuntimeSettings,
  SchedulerSettings,
  StorageSettings
} from "../config/Config.ts"
import { type ConversationKey, keyOf } from "../domain/Conversation.ts"
import { InboundMessage } from "../domain/Inbound.ts"
import { JobFiring } from "../domain/JobFiring.ts"
import * as Metrics from "../observability/Metrics.ts"
import * as Database from "../storage/Database.ts"
import { Actors, ActorStorageError, MailboxHandlers, SubmitError } from "./Actors.ts"
import * as ClusterStorage from "./ClusterStorage.ts"
import type { RunnerListenError } from "./RunnerTransport.ts"
import { TurnLedger } from "./TurnLedger.ts"

/** A firing as the mailbox stores it: not delivered before its `at`. */
class DelayedFiring extends JobFiring.extend<DelayedFiring>("DelayedFiring")({}) {
  [DeliverAt.symbol]() {
    return DateTime.unsafeMake(this.at)
  }
}

const entityType = "Conversation"
const Inbound = Rpc.make("Inbound", { payload: InboundMessage })
const Fire = Rpc.make("Fire", { payload: DelayedFiring })
const Conversation = Entity.make(entityType, [Inbound, Fire]).annotateRpcs(ClusterSchema.Persisted, true)

/** An actor with nothing to do is released from memory after this long; its mailbox stays stored. */
const actorIdleTime = Duration.minutes(5)
const pruneEvery = Schedule.spaced(Duration.hours(1))
/**
 * Runners sharing Postgres. Each writes a heartbeat every `runnerHeartbeat` (which is also the
 * deadline of one shard-lock statement: under 2 s, a loaded machine misses it, and a runner that
 * misses it stops its conversations until the database answers again); one whose heartbeat is
 * older than `runnerExpiration` (killed, or its host gone) counts as gone. The others look at the
 * list of runners every `assignmentRefresh`, then take its shards (and the Telegram poller) over:
 * 5-7 s after a kill -9. A conversation never runs twice meanwhile: shards are Postgres advisory
 * locks, held by a runner's connection and freed by Postgres when that connection dies, so a
 * runner that was only slow keeps its shards.
 */
const runnerHeartbeat = Duration.seconds(2)
export const runnerExpirationMs = 6000
const runnerExpiration = Duration.millis(runnerExpirationMs)
const assignmentRefresh = Duration.seconds(1)
/**
 * On shutdown a running turn may finish within this; after it, it is interrupted and redelivered
 * on the next start. At most half of `[runtime] shutdown_timeout_seconds`: the other half is for
 * interrupting the rest and closing the database.
 */
const turnGracePeriod = (shutdownTimeoutSeconds: number) =>
  Duration.min(Duration.seconds(5), Duration.seconds(shutdownTimeoutSeconds / 2))

const ConversationEntity = Conversation.toLayer(
  Effect.gen(function*() {
    const handlers = yield* MailboxHandlers
    return {
      Inbound: ({ payload }) => handlers.message(payload),
      Fire: ({ payload }) => handlers.firing(payload)
    }
  }),
  { maxIdleTime: actorIdleTime, concurrency: 1 }
)

type RunnerLayer = Layer.Layer<
  Sharding.Sharding,
  ConfigError.ConfigError | RunnerListenError,
  SqlClient.SqlClient
>

/**
 * The runner of this process, with mailboxes in the app's database. Runners sharing Postgres under
 * a `[cluster] runner_address` call each other directly (`RunnerTransport`); without one (the
 * default name is no address to listen on) a message for another runner's conversation waits for
 * that runner's next read of the mailboxes, every `[scheduler] poll_interval_ms`.
 */
const runner = Layer.unwrapEffect(Effect.gen(function*() {
  const shared = (yield* StorageSettings).backend === "postgres"
  const cluster = yield* ClusterSettings
  const address = runnerAddressOf(cluster)
  const { poll_interval_ms } = yield* SchedulerSettings
  const { shutdown_timeout_seconds } = yield* RuntimeSettings
  const config = {
    entityMessagePollInterval: Duration.millis(poll_interval_ms),
    entityTerminationTimeout: turnGracePeriod(shutdown_timeout_seconds)
  }
  const sharedConfig = {
    ...config,
    shardLockRefreshInterval: runnerHeartbeat,
    shardLockExpiration: runnerExpiration,
    refreshAssignmentsInterval: assignmentRefresh
  }
  // Its tables are created as it is built: one runner after the other on a new database.
  if (shared && cluster.runner_address !== undefined) {
    const transport = yield* Effect.promise(() => import("./RunnerTransport.ts"))
    const direct: RunnerLayer = Database.builtDuringStartup(transport.layer(address, sharedConfig))
    return direct
  }
  const polling: RunnerLayer = Database.builtDuringStartup(SingleRunner.layer({
    runnerStorage: shared ? "sql" : "memory",
    shardingConfig: shared
      ? { ...sharedConfig, runnerAddress: Option.some(RunnerAddress.make(address.host, address.port)) }
      : config
  }))
  return polling
}))

const clientLayer = Layer.scoped(
  Actors,
  Effect.gen(function*() {
    const makeClient = yield* Conversation.client
    const sharding = yield* Sharding.Sharding
    const bus = yield* Bus
    const sql = yield* SqlClient.SqlClient
    const read = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
      effect.pipe(
        Effect.provideService(SqlClient.SqlClient, sql),
        Effect.mapError((cause) => new ActorStorageError({ cause }))
      )
    const running = yield* FiberMap.make<ConversationKey>()

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
      }).pipe(Effect.withSpan("Actors.submit", { kind: "producer" }))

    const post = (firing: JobFiring) =>
      makeClient(keyOf(firing.conversation)).Fire(new DelayedFiring(firing), { discard: true }).pipe(
        Effect.mapError((cause) => new SubmitError({ cause })),
        // A trace per firing: posted from inside the previous firing, it would otherwise extend that trace forever.
        Effect.withSpan("Actors.post", {
          root: true,
          kind: "producer",
          attributes: { "minibot.conversation_id": keyOf(firing.conversation), "minibot.job_id": firing.jobId }
        })
      )

    const unposted = (firings: ReadonlyArray<JobFiring>) =>
      Effect.gen(function*() {
        const ids = firings.map((f) =>
          ClusterStorage.messageId(entityType, keyOf(f.conversation), "Fire", PrimaryKey.value(f))
        )
        const present = yield* read(ClusterStorage.unprocessedAmong(ids))
        return firings.filter((_, i) => !present.has(ids[i]!))
      })

    const decodeInbound = Schema.decodeUnknown(Schema.parseJson(InboundMessage))
    const following = (key: ConversationKey, messageId: string) =>
      read(ClusterStorage.unprocessedPayloadsAfter(
        entityType,
        key,
        "Inbound",
        ClusterStorage.messageId(entityType, key, "Inbound", messageId)
      )).pipe(
        Effect.flatMap(Effect.forEach((payload) =>
          decodeInbound(payload).pipe(Effect.mapError((cause) => new ActorStorageError({ cause })))
        ))
      )

    const pending = (key: ConversationKey) => read(ClusterStorage.countUnprocessed(entityType, key, "Inbound"))

    const stoppable = <A, E, R>(key: ConversationKey, work: Effect.Effect<A, E, R>) =>
      Effect.flatMap(FiberMap.run(running, key, work), Fiber.await)

    const stop = (key: ConversationKey) =>
      Effect.gen(function*() {
        const has = yield* FiberMap.has(running, key)
        if (has) yield* FiberMap.remove(running, key)
        return has
      })

    return { submit, post, wake: sharding.pollStorage, unposted, following, pending, stoppable, stop }
  })
)

/**
 * On Postgres, how long a runner's read of a message may stand before any runner may read it again
 * (see `ClusterStorage.releaseStaleReads`), and how often that is looked at. A message read just as
 * its shard moved (a runner joining, or shard locks late on a loaded machine) waits at most about
 * 15 s this way; the owner reading again a message it is still working on skips it.
 */
const staleRead = Duration.seconds(10)
const staleReadCheck = Duration.seconds(5)

/**
 * Deletes processed mailbox rows and turn records older than `[runtime] message_retention_hours`;
 * on Postgres, releases stale reads of unprocessed messages.
 */
const Pruner = Layer.scopedDiscard(
  Effect.gen(function*() {
    const runtime = yield* RuntimeSettings
    const ledger = yield* TurnLedger
    const sql = yield* SqlClient.SqlClient
    const retention = Duration.hours(runtime.message_retention_hours)
    const prune = Effect.gen(function*() {
      const before = (yield* Clock.currentTimeMillis) - Duration.toMillis(retention)
      yield* ClusterStorage.pruneProcessed(before).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      yield* ledger.prune(before)
    }).pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("pruning old messages failed", cause)),
      Effect.annotateLogs("component", "pruner")
    )
    yield* prune.pipe(Effect.repeat(pruneEvery), Effect.forkScoped)
    if ((yield* StorageSettings).backend !== "postgres") return
    yield* ClusterStorage.releaseStaleReads(Duration.toMillis(staleRead)).pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.catchAllCause((cause) => Effect.logWarning("releasing stale mailbox reads failed", cause)),
      Effect.annotateLogs("component", "pruner"),
      Effect.repeat(Schedule.spaced(staleReadCheck)),
      Effect.forkScoped
    )
  })
)

/** `Actors` on this process's runner; needs the database, the config sections and the bus. */
export const client = clientLayer.pipe(Layer.provideMerge(runner))

/** The actors at work (and the pruner); needs what they do with their mail (`MailboxHandlers`). */
export const entities = Layer.merge(ConversationEntity, Pruner)
