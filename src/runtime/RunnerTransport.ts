/**
 * The runner of a process sharing Postgres with others, with the cluster's own runner-to-runner
 * transport: each runner listens on the port of its `[cluster] runner_address`, and a runner that
 * stores a message in the mailbox of a conversation another runner owns tells that runner over a
 * socket (@effect/cluster's `SocketRunner`, msgpack over TCP), which reads its mailboxes at once
 * instead of at its next poll. The mailbox in Postgres stays the one source of truth: the message
 * is stored before the other runner is told, and a runner that cannot be reached (killed, not
 * yet listening) finds it at its next poll, or its successor when it takes the shard over.
 *
 * Loaded only when used (`ClusterActors`): SQLite and a single runner need no sockets.
 */
import {
  RunnerAddress,
  RunnerHealth,
  ShardingConfig,
  SocketRunner,
  SqlMessageStorage,
  SqlRunnerStorage
} from "@effect/cluster"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import { RpcSerialization } from "@effect/rpc"
import { Data, Layer, Option } from "effect"

/** This runner's port cannot be opened: the message names the key to change. */
export class RunnerListenError extends Data.TaggedError("RunnerListenError")<{
  readonly address: string
  readonly cause: unknown
}> {
  override get message() {
    const code = (this.cause as { cause?: { code?: string } }).cause?.code
    const why = code === "EADDRINUSE"
      ? "the address is already in use"
      : code === "EACCES"
      ? "permission denied"
      : code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EAI_AGAIN"
      ? "its host is not an address of this machine"
      : String((this.cause as { message?: unknown }).message ?? this.cause)
    return `the runner cannot listen on ${this.address} (cluster.runner_address): ${why}; ` +
      "give each runner a free port and a host name the other runners reach it by"
  }
}

/**
 * A runner at `address` on the SqlClient's Postgres, reachable by the others there. A runner is
 * counted out by its heartbeat alone (`RunnerHealth.layerNoop`, as with storage polling): a ping
 * that a loaded machine answers late must not hand a live runner's shards to another.
 */
export const layer = (
  address: { readonly host: string; readonly port: number },
  config: Partial<ShardingConfig.ShardingConfig["Type"]>
) =>
  SocketRunner.layer.pipe(
    Layer.provide([NodeClusterSocket.layerSocketServer, NodeClusterSocket.layerClientProtocol]),
    Layer.provide(RunnerHealth.layerNoop),
    Layer.provideMerge(Layer.orDie(SqlMessageStorage.layer)),
    Layer.provide(Layer.orDie(SqlRunnerStorage.layer)),
    Layer.provide(ShardingConfig.layer({
      ...config,
      runnerAddress: Option.some(RunnerAddress.make(address.host, address.port))
    })),
    Layer.provide(RpcSerialization.layerMsgPack),
    Layer.mapError((cause) => new RunnerListenError({ address: `${address.host}:${address.port}`, cause }))
  )
