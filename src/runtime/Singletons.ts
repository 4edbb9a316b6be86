/**
 * Work that must run on exactly one process of the cluster (the Telegram poller): with several
 * runners on Postgres, the runner that owns the singleton's shard runs it, and another takes it
 * over when that runner dies. The only door to cluster's `Singleton` outside the actors.
 */
import { Singleton } from "@effect/cluster"
import type { Effect } from "effect"

/** A layer that runs `run` on exactly one runner, restarted on another if that one stops. */
export const singleton = <E, R>(name: string, run: Effect.Effect<void, E, R>) => Singleton.make(name, run)
